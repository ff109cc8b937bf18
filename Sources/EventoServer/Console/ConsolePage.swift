/// The console's one HTML page (served for every `/ui/…` address; `console.js` renders the page the path
/// names). `{{script}}` and `{{style}}` become the assets' hashed paths (`ConsoleAssets`).
enum ConsolePage {
    static let source = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Evento console</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{{style}}">
<script src="{{script}}" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
  <a class="brand" href="/ui">Evento</a>
  <nav aria-label="Sections">
    <a href="/ui" data-section="overview">Overview</a>
    <a href="/ui/events" data-section="events">Feed</a>
    <a href="/ui/entities" data-section="entities">Streams</a>
    <a href="/ui/commands?status=pending" data-section="commands">Commands</a>
    <a href="/ui/dead-letters" data-section="dead-letters">Dead letters</a>
    <a href="/ui/functions" data-section="functions">Functions</a>
    <a href="/ui/schemas" data-section="schemas">Schemas</a>
    <a href="/ui/projectors" data-section="projectors">Views</a>
    <a href="/ui/cluster" data-section="cluster">Cluster</a>
  </nav>
  <form id="search" role="search">
    <label for="q" class="sr">Find an entity, a prefix, or an event or command id</label>
    <input id="q" name="q" type="search" placeholder="Find entity, prefix or id  ( / )" autocomplete="off" spellcheck="false">
    <button type="submit">Find</button>
  </form>
  <button id="token-button" type="button" aria-haspopup="dialog">Access token</button>
</header>
<main id="main" tabindex="-1"><noscript>The Evento console needs JavaScript.</noscript></main>
<dialog id="token-dialog" aria-labelledby="token-title">
  <form id="token-form">
    <h2 id="token-title">Access token</h2>
    <p id="token-reason">This server needs an access token (EVENTO_TOKENS or EVENTO_ADMIN_TOKEN) of a large enough scope: read, write or admin.</p>
    <p class="muted">It stays in this browser tab (sessionStorage) and is sent only as an Authorization header to this server.</p>
    <label for="token-input">Token</label>
    <input id="token-input" type="password" autocomplete="off" spellcheck="false">
    <div class="buttons">
      <button type="button" id="token-clear">Forget token</button>
      <button type="button" id="token-cancel">Cancel</button>
      <button type="submit" id="token-ok" class="primary">Use token</button>
    </div>
  </form>
</dialog>
</body>
</html>
"""#
}
