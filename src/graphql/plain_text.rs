//! Every string a request hands in is plain text: no invisible control character in any argument, whether written
//! into the document or passed as a variable (`domain::text`).
//!
//! Each use case checks its own fields too (one-line fields refuse line breaks as well), but this is the one gate
//! every string passes, so a field that a use case forgot still cannot store a U+0000 (which PostgreSQL refuses with
//! an error of its own, and SQLite stores) or a right-to-left override. It runs right after parsing, over each
//! argument once (fragments are walked where they are defined, not where they are spread), and refuses the request
//! with a field error per bad value, in the paths use cases use: `subject.name` for `createFiling(input: ...)`,
//! `reason` for a loose argument.

use std::collections::BTreeSet;
use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{Directive, ExecutableDocument, Selection, SelectionSet};
use async_graphql::{Positioned, ServerResult, Value as ConstValue, Variables};
/// An argument as written: a constant, a variable's name, or lists and objects of them.
use async_graphql_value::Value as ArgumentValue;

use crate::domain::text::invisible_control;
use crate::domain::{FieldError, FieldErrorCode};
use crate::services::ServiceError;

/// Refuses requests with an invisible control character in any string argument.
pub struct PlainText;

impl ExtensionFactory for PlainText {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(PlainTextExtension)
    }
}

struct PlainTextExtension;

#[async_trait::async_trait]
impl Extension for PlainTextExtension {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        let bad = bad_fields(&document, variables);
        if bad.is_empty() {
            return Ok(document);
        }
        let errors = bad
            .into_iter()
            .map(|field| {
                FieldError::new(field, FieldErrorCode::ControlCharacter).with_message(
                    "This text holds an invisible control character (such as U+0000, an escape or a right-to-left \
                     override): remove it.",
                    "该内容包含不可见的控制字符（如 U+0000、转义符或从右至左覆盖字符），请删除。",
                )
            })
            .collect();
        Err(super::error::to_gql(ServiceError::InvalidInput(errors)).into_server_error(Default::default()))
    }
}

/// The paths of the string values with an invisible control character, sorted, each once.
fn bad_fields(document: &ExecutableDocument, variables: &Variables) -> BTreeSet<String> {
    let mut walker = Walker { variables, bad: BTreeSet::new() };
    for (_, operation) in document.operations.iter() {
        for definition in &operation.node.variable_definitions {
            if let Some(default) = &definition.node.default_value {
                walker.constant(&format!("${}", definition.node.name.node), &default.node);
            }
        }
        walker.directives(&operation.node.directives);
        walker.selection_set(&operation.node.selection_set.node);
    }
    for fragment in document.fragments.values() {
        walker.directives(&fragment.node.directives);
        walker.selection_set(&fragment.node.selection_set.node);
    }
    // Variables no argument names are refused by validation; what arguments take from variables is checked there.
    walker.bad
}

struct Walker<'a> {
    variables: &'a Variables,
    bad: BTreeSet<String>,
}

impl Walker<'_> {
    fn selection_set(&mut self, set: &SelectionSet) {
        for selection in &set.items {
            match &selection.node {
                Selection::Field(field) => {
                    self.arguments(&field.node.arguments);
                    self.directives(&field.node.directives);
                    self.selection_set(&field.node.selection_set.node);
                }
                Selection::InlineFragment(inline) => {
                    self.directives(&inline.node.directives);
                    self.selection_set(&inline.node.selection_set.node);
                }
                Selection::FragmentSpread(spread) => self.directives(&spread.node.directives),
            }
        }
    }

    fn directives(&mut self, directives: &[Positioned<Directive>]) {
        for directive in directives {
            self.arguments(&directive.node.arguments);
        }
    }

    fn arguments(&mut self, arguments: &[(Positioned<async_graphql::Name>, Positioned<ArgumentValue>)]) {
        for (name, value) in arguments {
            // Variables resolved to what the request sent (a variable it did not send is null here).
            let Ok(value) = value.node.clone().into_const_with(|variable| {
                Ok::<_, std::convert::Infallible>(self.variables.get(&variable).cloned().unwrap_or_default())
            });
            // `input` is the use cases' root: their paths start inside it.
            let path = if name.node == "input" { String::new() } else { name.node.to_string() };
            self.constant(&path, &value);
        }
    }

    fn constant(&mut self, path: &str, value: &ConstValue) {
        match value {
            ConstValue::String(text) => self.text(path, text),
            ConstValue::List(items) => {
                for (index, item) in items.iter().enumerate() {
                    self.constant(&format!("{path}[{index}]"), item);
                }
            }
            ConstValue::Object(fields) => {
                for (name, item) in fields {
                    self.constant(&join(path, name), item);
                }
            }
            _ => {}
        }
    }

    fn text(&mut self, path: &str, text: &str) {
        if invisible_control(text).is_some() {
            self.bad.insert(if path.is_empty() { "input".to_owned() } else { path.to_owned() });
        }
    }
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() { name.to_owned() } else { format!("{path}.{name}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bad(query: &str, variables: serde_json::Value) -> Vec<String> {
        let document = async_graphql::parser::parse_query(query).unwrap();
        bad_fields(&document, &Variables::from_json(variables)).into_iter().collect()
    }

    #[test]
    fn every_string_argument_is_checked_inline_and_in_variables() {
        let q = "mutation($i: LoginInput!) { login(input: $i) { accessToken } }";
        assert_eq!(bad(q, serde_json::json!({ "i": { "email": "a\u{0}@b.cn", "tenant": "x" } })), ["email"]);
        assert!(bad(q, serde_json::json!({ "i": { "email": "a@b.cn", "tenant": "x\r\n" } })).is_empty());
        let q = "mutation { reviewAttachment(id: \"1\", accepted: false, reason: \"a\\u202Eb\") { id } }";
        assert_eq!(bad(q, serde_json::json!({})), ["reason"]);
        let q = "mutation($w: [String!]!) { x(input: { websites: [{ domains: $w }] }) { id } }";
        assert_eq!(bad(q, serde_json::json!({ "w": ["a.cn", "b\u{1b}.cn"] })), ["websites[0].domains[1]"]);
        let q = "query($s: String = \"\\u0000\") { f(s: $s) } fragment F on Q { g(t: \"\\u0007\") }";
        assert_eq!(bad(q, serde_json::json!({})), ["$s", "t"]);
    }
}
