//! A limit on how many fields one query document selects, aliases and `__typename` included.
//!
//! Depth and complexity limits (async-graphql's) do not count `__typename` and count a cheap field once however
//! often it is aliased, so `{ a0: __typename a1: __typename ... }` with thousands of aliases passed them and made
//! the server build an answer of that size. This counts every selected field, fragment spreads expanded, before
//! validation and execution.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{ExecutableDocument, FragmentDefinition, Selection, SelectionSet};
use async_graphql::{Name, Positioned, ServerError, ServerResult, Variables};

/// Refuses documents that select more than `max` fields.
pub struct FieldLimit(pub usize);

impl ExtensionFactory for FieldLimit {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(FieldLimitExtension(self.0))
    }
}

struct FieldLimitExtension(usize);

#[async_trait::async_trait]
impl Extension for FieldLimitExtension {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        let count = field_count(&document, self.0);
        if count > self.0 {
            let mut error = ServerError::new(
                format!("the query selects more than {} fields (aliases and __typename count too)", self.0),
                None,
            );
            let mut extensions = async_graphql::ErrorExtensionValues::default();
            extensions.set("code", super::error::code::BAD_USER_INPUT);
            error.extensions = Some(extensions);
            return Err(error);
        }
        Ok(document)
    }
}

/// The fields `document` selects, each fragment spread counting the fields of its fragment; counting stops a little
/// past `cap` (the answer is then only "too many").
pub fn field_count(document: &ExecutableDocument, cap: usize) -> usize {
    let fragments: HashMap<&Name, &Positioned<FragmentDefinition>> = document.fragments.iter().collect();
    let mut count = 0;
    for (_, operation) in document.operations.iter() {
        count_set(&operation.node.selection_set.node, &fragments, &mut Vec::new(), &mut count, cap);
    }
    count
}

fn count_set<'a>(
    set: &'a SelectionSet,
    fragments: &HashMap<&'a Name, &'a Positioned<FragmentDefinition>>,
    stack: &mut Vec<&'a Name>,
    count: &mut usize,
    cap: usize,
) {
    for selection in &set.items {
        if *count > cap {
            return;
        }
        match &selection.node {
            Selection::Field(field) => {
                *count += 1;
                count_set(&field.node.selection_set.node, fragments, stack, count, cap);
            }
            Selection::InlineFragment(inline) => {
                count_set(&inline.node.selection_set.node, fragments, stack, count, cap);
            }
            Selection::FragmentSpread(spread) => {
                let name = &spread.node.fragment_name.node;
                // A cycle is refused by validation later; here it only must not loop.
                if stack.contains(&name) {
                    continue;
                }
                if let Some(fragment) = fragments.get(name) {
                    stack.push(name);
                    count_set(&fragment.node.selection_set.node, fragments, stack, count, cap);
                    stack.pop();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(query: &str) -> usize {
        field_count(&async_graphql::parser::parse_query(query).unwrap(), 10_000)
    }

    #[test]
    fn aliases_typename_and_fragments_all_count() {
        assert_eq!(count("{ a: __typename b: __typename }"), 2);
        assert_eq!(count("{ filings { nodes { id status } } }"), 4);
        // Each spread of a fragment counts its fields again: spreads multiply.
        assert_eq!(count("query { a: me { ...F } b: me { ...F } } fragment F on Me { kind role }"), 6);
        assert_eq!(count("{ me { ... on Me { kind } } }"), 2);
        // A cycle ends.
        assert_eq!(count("{ me { ...F } } fragment F on Me { kind ...F }"), 2);
    }
}
