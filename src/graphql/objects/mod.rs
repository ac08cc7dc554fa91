//! The schema's output objects that point at each other: a filing and its subject, websites, events, materials,
//! notifications, SMS checks, accounts; and the `Node` interface over them. The object graph is cyclic by nature
//! (a filing lists its notifications, a notification names its filing), so these live together here, below the
//! Query and Mutation resolver modules that return them. Each object wraps a service read model; nested data goes
//! through the DataLoaders.
//!
//! Nothing here imports a resolver module: the arrows point to loaders, context, error, ids and enums only.

pub mod account;
pub mod attachment;
pub mod filing;
pub mod mobile;
pub mod node;
pub mod notification;
pub mod subject;
pub mod webhook;
pub mod website;
pub mod workflow;
