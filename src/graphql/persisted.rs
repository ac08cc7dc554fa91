//! Automatic persisted queries (Apollo's protocol, version 1): a client sends `extensions.persistedQuery.sha256Hash`
//! without the query; a server that knows the hash runs the document it parsed before, one that does not answers
//! `PERSISTED_QUERY_NOT_FOUND` and the client sends the query with its hash once, which registers it. Phones and
//! consoles send 64 hex digits instead of the document, and a known document is not parsed again.
//!
//! async-graphql's own extension (`ApolloPersistedQueries`) caches a document before the field limit has seen it,
//! and its refusals carry no code; this one registers a document only after the limits passed it, only when it is
//! small, and answers with the codes Apollo's clients look for. The cache is per process (an LRU of parsed
//! documents): a replica that has not seen a hash asks for the query, which the protocol handles by itself.
//! Documents are shared by every tenant, like the schema: a hash runs with the caller's own rights.

use crate::language::pick;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextPrepareRequest};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{Request, ServerResult};
use sha2::{Digest, Sha256};

use super::error::{code, refusal};

/// The largest query text that is registered (bytes); a larger one runs, it is just sent in full each time. With
/// the cache's size this bounds the memory the cache holds.
pub const MAX_PERSISTED_QUERY_BYTES: usize = 16 * 1024;

/// The persisted queries of one process: at most `capacity` parsed documents, least recently used dropped first.
#[derive(Clone)]
pub struct PersistedQueries(Arc<Mutex<lru::LruCache<String, ExecutableDocument>>>);

impl PersistedQueries {
    pub fn new(capacity: NonZeroUsize) -> Self {
        Self(Arc::new(Mutex::new(lru::LruCache::new(capacity))))
    }

    fn get(&self, hash: &str) -> Option<ExecutableDocument> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).get(hash).cloned()
    }

    fn put(&self, hash: String, document: ExecutableDocument) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).put(hash, document);
    }
}

impl ExtensionFactory for PersistedQueries {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(self.clone())
    }
}

/// What a request asks: `{ "version": 1, "sha256Hash": "<64 hex digits>" }`.
#[derive(serde::Deserialize)]
struct Asked {
    version: i32,
    #[serde(rename = "sha256Hash")]
    sha256_hash: String,
}

#[async_trait::async_trait]
impl Extension for PersistedQueries {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        let Some(value) = request.extensions.remove("persistedQuery") else {
            return next.run(ctx, request).await;
        };
        let malformed = || {
            refusal(
                pick(
                    "extensions.persistedQuery must be { version: 1, sha256Hash: \"<64 hex digits>\" }",
                    "extensions.persistedQuery 须为 { version: 1, sha256Hash: \"<64 位十六进制>\" }",
                ),
                code::BAD_USER_INPUT,
            )
        };
        let asked: Asked = async_graphql::from_value(value).map_err(|_| malformed())?;
        let hash = asked.sha256_hash.to_ascii_lowercase();
        if asked.version != 1 || hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(malformed());
        }
        if request.query.is_empty() {
            // Apollo's clients recognise the message as well as the code.
            let document =
                self.get(&hash).ok_or_else(|| refusal("PersistedQueryNotFound", code::PERSISTED_QUERY_NOT_FOUND))?;
            request.set_parsed_query(document);
            return next.run(ctx, request).await;
        }
        if hex::encode(Sha256::digest(request.query.as_bytes())) != hash {
            return Err(refusal(
                pick(
                    "extensions.persistedQuery.sha256Hash is not the SHA-256 of the query",
                    "extensions.persistedQuery.sha256Hash 不是该查询的 SHA-256",
                ),
                code::BAD_USER_INPUT,
            ));
        }
        let small = request.query.len() <= MAX_PERSISTED_QUERY_BYTES;
        // The limits first (the field count parses the document): only a document they pass is registered.
        let mut request = next.run(ctx, request).await?;
        if small {
            let document = request.parsed_query()?.clone();
            self.put(hash, document);
        }
        Ok(request)
    }
}
