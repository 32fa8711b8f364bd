/** The `/demo` page's HTML and CSS (SPEC §6); its script is the esbuild bundle of app.ts at /demo/app.js. */
export const DEMO_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Switchboard demo</title>
<style>
  [hidden] { display: none !important; }
  body { font: 15px/1.4 system-ui, sans-serif; margin: 0; display: flex; flex-direction: column; height: 100vh; }
  header { display: flex; gap: 1em; align-items: center; padding: .5em 1em; background: #223; color: #fff; }
  #status { margin-left: auto; font-size: .9em; padding: .2em .6em; border-radius: 1em; background: #556; }
  #status[data-kind=connected], #status[data-kind=caught-up] { background: #2a6; }
  #status[data-kind=reconnecting], #status[data-kind=connecting] { background: #c80; }
  #status[data-kind=gap], #status[data-kind=stopped] { background: #c33; }
  form { display: flex; gap: .5em; padding: .5em 1em; }
  #chat { flex: 1; display: grid; grid-template-columns: 1fr 12em; grid-template-rows: auto 1fr auto auto; min-height: 0; }
  #rooms { grid-column: 1 / 3; padding: .3em 1em; display: flex; gap: .3em; flex-wrap: wrap; }
  .tab { border: 1px solid #99a; background: #fff; border-radius: .3em; }
  .tab.on { background: #223; color: #fff; }
  #log { overflow: auto; padding: 0 1em; }
  #messages { list-style: none; padding: 0; margin: 0; }
  #messages li { padding: .2em 0; }
  #messages li.mine b { color: #26a; }
  .seen { color: #888; }
  aside { border-left: 1px solid #ddd; padding: 0 1em; }
  #members { list-style: none; padding: 0; }
  .dot { display: inline-block; width: .6em; height: .6em; border-radius: 50%; background: #bbb; }
  .dot.online { background: #2a6; }
  #typing { grid-column: 1 / 3; padding: 0 1em; color: #666; min-height: 1.4em; font-style: italic; }
  #compose { grid-column: 1 / 3; }
  #compose input { flex: 1; }
</style>
</head>
<body>
<header><strong>Switchboard</strong><span id="me"></span><span id="status" data-kind="idle">signed out</span></header>
<form id="signin">
  <input id="name" placeholder="your name" required maxlength="64" pattern="[A-Za-z0-9_.-]+" autofocus>
  <input id="jwt" placeholder="or paste a JWT (production keys)">
  <button>Sign in</button>
</form>
<main id="chat" hidden>
  <nav id="rooms"></nav>
  <section id="log"><button id="older" hidden>load older</button><ul id="messages"></ul></section>
  <aside><h4>members</h4><ul id="members"></ul>
    <form id="join"><input id="room" placeholder="room" required pattern="[A-Za-z0-9_.:-]+" size="8"><button>Join</button></form></aside>
  <div id="typing"></div>
  <form id="compose"><input id="text" placeholder="message" autocomplete="off"><button>Send</button></form>
</main>
<script src="/demo/app.js"></script>
</body>
</html>
`
