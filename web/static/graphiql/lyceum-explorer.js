// Starts GraphiQL on this page from the vendored UMD builds (globals React, ReactDOM,
// GraphiQL, GraphiQLPluginExplorer). An external file, so the page's CSP needs no inline script.
(function () {
  var here = window.location;
  var fetcher = GraphiQL.createFetcher({
    url: here.origin + here.pathname,
    subscriptionUrl: (here.protocol === "https:" ? "wss://" : "ws://") + here.host + here.pathname,
  });
  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      plugins: [GraphiQLPluginExplorer.explorerPlugin()],
      defaultEditorToolsVisibility: true,
    })
  );
})();
