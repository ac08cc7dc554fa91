// GraphiQL for beian: queries and mutations to /graphql, subscriptions over graphql-ws at /graphql/ws. Put
// {"Authorization": "Bearer <token>"} in the Headers tab: requests send it as HTTP headers, and a subscription's
// connection sends the same object as its connection_init payload.
(function () {
  'use strict';
  var origin = window.location.origin;
  var ws = new URL('/graphql/ws', origin);
  ws.protocol = ws.protocol === 'https:' ? 'wss:' : 'ws:';
  var fetcher = GraphiQL.createFetcher({
    url: new URL('/graphql', origin).toString(),
    subscriptionUrl: ws.toString(),
    wsConnectionParams: function () {
      try {
        return JSON.parse(window.localStorage.getItem('graphiql:headers') || '{}');
      } catch (error) {
        return {};
      }
    },
  });
  ReactDOM.createRoot(document.getElementById('graphiql')).render(
    React.createElement(GraphiQL, { fetcher: fetcher, defaultEditorToolsVisibility: true }),
  );
})();
