//! A limit on how many fields one query document selects, aliases and `__typename` included.
//!
//! Depth and complexity limits (async-graphql's) do not count `__typename` and count a cheap field once however
//! often it is aliased, so `{ a0: __typename a1: __typename ... }` with thousands of aliases passed them and made
//! the server build an answer of that size. This counts every selected field, fragment spread and inline fragment,
//! spreads expanded, right after parsing and before anything else (async-graphql's own depth check included).
//!
//! The count takes time proportional to the document, however its fragments multiply: each fragment is counted
//! once and its count remembered, and every sum stops at the limit. (Counting every expansion instead took
//! exponential time: 30 fragments each spreading the next one twice, 1.5 KB, kept a core busy for over a minute.)
//! Fragments no operation uses are counted too, so that later validation (which walks every fragment) has no
//! unbounded work hidden from the count.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextPrepareRequest};
use async_graphql::parser::types::{ExecutableDocument, FragmentDefinition, Selection, SelectionSet};
use async_graphql::{Name, Positioned, Request, ServerResult};

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
    /// Before anything else of async-graphql sees the document: its parse step also checks the nesting depth by
    /// walking every fragment spread expanded (`check_recursive_depth`), which is the same exponential walk. The
    /// document is parsed here, counted, and handed on parsed (async-graphql parses it once).
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        let count = field_count(request.parsed_query()?, self.0);
        if count > self.0 {
            return Err(super::error::refusal(
                crate::language::pick(
                    format!(
                        "the query selects more than {} fields (aliases, __typename and fragment spreads count too)",
                        self.0
                    ),
                    format!("查询选择的字段超过 {} 个（别名、__typename 和片段展开均计入）", self.0),
                ),
                super::error::code::BAD_USER_INPUT,
            ));
        }
        next.run(ctx, request).await
    }
}

/// The fields `document` selects, each fragment spread counting the fields of its fragment (and itself), inline
/// fragments counting themselves, fragments no operation uses counting their own; any result above `cap` only
/// means "too many" (sums stop at `cap + 1`).
pub fn field_count(document: &ExecutableDocument, cap: usize) -> usize {
    let mut counter = Counter {
        fragments: document.fragments.iter().collect(),
        counted: HashMap::new(),
        open: HashSet::new(),
        ceiling: cap.saturating_add(1),
    };
    let mut total = 0usize;
    for (_, operation) in document.operations.iter() {
        let count = counter.selection_set(&operation.node.selection_set.node);
        total = counter.add(total, count);
    }
    for name in document.fragments.keys() {
        if !counter.counted.contains_key(name) {
            let count = counter.fragment(name);
            total = counter.add(total, count);
        }
    }
    total
}

struct Counter<'a> {
    fragments: HashMap<&'a Name, &'a Positioned<FragmentDefinition>>,
    /// The count of each fragment already counted.
    counted: HashMap<&'a Name, usize>,
    /// Fragments being counted now: spreading one of them again is a cycle (refused by validation later).
    open: HashSet<&'a Name>,
    ceiling: usize,
}

impl<'a> Counter<'a> {
    fn add(&self, a: usize, b: usize) -> usize {
        a.saturating_add(b).min(self.ceiling)
    }

    fn selection_set(&mut self, set: &'a SelectionSet) -> usize {
        let mut count = 0;
        for selection in &set.items {
            let inner = match &selection.node {
                Selection::Field(field) => self.selection_set(&field.node.selection_set.node),
                Selection::InlineFragment(inline) => self.selection_set(&inline.node.selection_set.node),
                Selection::FragmentSpread(spread) => self.fragment(&spread.node.fragment_name.node),
            };
            count = self.add(count, self.add(1, inner));
        }
        count
    }

    fn fragment(&mut self, name: &'a Name) -> usize {
        if let Some(count) = self.counted.get(name) {
            return *count;
        }
        let Some(fragment) = self.fragments.get(name).copied() else { return 0 };
        if !self.open.insert(name) {
            return 0;
        }
        let count = self.selection_set(&fragment.node.selection_set.node);
        self.open.remove(name);
        self.counted.insert(name, count);
        count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(query: &str) -> usize {
        field_count(&async_graphql::parser::parse_query(query).unwrap(), 10_000)
    }

    /// `levels` fragments, each spreading the next one twice: 2^levels fields when expanded.
    pub(crate) fn doubling_fragments(levels: usize) -> String {
        let mut query = String::from("query { ...F0 }");
        for level in 0..levels {
            query.push_str(&format!(" fragment F{level} on QueryRoot {{ ...F{next} ...F{next} }}", next = level + 1));
        }
        query.push_str(&format!(" fragment F{levels} on QueryRoot {{ __typename }}"));
        query
    }

    #[test]
    fn aliases_typename_spreads_and_fragments_all_count() {
        assert_eq!(count("{ a: __typename b: __typename }"), 2);
        assert_eq!(count("{ filings { nodes { id status } } }"), 4);
        // Each spread counts itself and the fields of its fragment again: spreads multiply.
        assert_eq!(count("query { a: me { ...F } b: me { ...F } } fragment F on Me { kind role }"), 8);
        assert_eq!(count("{ me { ... on Me { kind } } }"), 3);
        // A cycle ends.
        assert_eq!(count("{ me { ...F } } fragment F on Me { kind ...F }"), 4);
        // A fragment no operation uses counts its own fields.
        assert_eq!(count("{ me { kind } } fragment F on Me { kind role }"), 4);
    }

    #[test]
    fn multiplying_fragments_are_counted_in_time_proportional_to_the_document() {
        // The exact count of a small one: 2 + 4 + 8 spreads and 8 leaves, plus the operation's one spread,
        assert_eq!(count(&doubling_fragments(3)), 1 + 2 + 4 + 8 + 8);
        // and a 60-level one (2^60 fields expanded) is only "too many", at once.
        let started = std::time::Instant::now();
        let document = async_graphql::parser::parse_query(doubling_fragments(60)).unwrap();
        assert_eq!(field_count(&document, 1000), 1001);
        assert!(started.elapsed() < std::time::Duration::from_secs(1), "{:?}", started.elapsed());
    }
}
