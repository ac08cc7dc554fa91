#!/usr/bin/env bash
# Fetches GraphiQL and React from npm at the versions below and puts their browser builds here, where the server
# serves them from its binary (/static/graphiql/...): GraphiQL loads nothing from a CDN. Run it to move to another
# version, then check /graphql in a browser and commit the files.
set -euo pipefail
cd "$(dirname "$0")"
GRAPHIQL=4.1.2
REACT=18.3.1
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "graphiql@$GRAPHIQL" "react@$REACT" "react-dom@$REACT" >/dev/null)
for package in "graphiql-$GRAPHIQL" "react-$REACT" "react-dom-$REACT"; do
  mkdir "$tmp/$package" && tar xzf "$tmp/$package.tgz" -C "$tmp/$package"
done
cp "$tmp/graphiql-$GRAPHIQL/package/graphiql.min.js" "$tmp/graphiql-$GRAPHIQL/package/graphiql.min.css" .
cp "$tmp/react-$REACT/package/umd/react.production.min.js" .
cp "$tmp/react-dom-$REACT/package/umd/react-dom.production.min.js" .
cp "$tmp/graphiql-$GRAPHIQL/package/LICENSE" LICENSE.graphiql
cp "$tmp/react-$REACT/package/LICENSE" LICENSE.react
sha256sum graphiql.min.js graphiql.min.css react.production.min.js react-dom.production.min.js
