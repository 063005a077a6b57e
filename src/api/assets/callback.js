// Finishes Imgur's token flow: Imgur returns the tokens in the URL fragment,
// which never reaches a server, so this script reads it, removes it from the
// address bar and history, and posts the refresh token with the login's
// state to the gateway.
(function () {
  "use strict";
  var status = document.getElementById("status");
  var detail = document.getElementById("detail");
  var next = document.getElementById("next");
  var answer = new URLSearchParams(window.location.hash.slice(1));
  history.replaceState(null, "", window.location.pathname);

  function show(title, text) {
    status.textContent = title;
    detail.textContent = text;
    document.title = title + " · pixgate";
  }

  var error = answer.get("error");
  if (error) {
    if (error === "access_denied") {
      show("Access denied", "You did not allow pixgate to use your Imgur account, so nothing was stored. Start again at /auth/login to retry.");
    } else {
      show("Authorization failed", "Imgur answered: " + error + ". Nothing was stored. Start again at /auth/login.");
    }
    return;
  }
  if (!answer.get("refresh_token") || !answer.get("state")) {
    show("Nothing to finish", "This page expects Imgur's answer in the address. Start at /auth/login.");
    return;
  }
  fetch("/auth/token", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ state: answer.get("state"), refresh_token: answer.get("refresh_token") })
  })
    .then(function (response) {
      return response.json().then(function (body) { return { ok: response.ok, body: body }; });
    })
    .then(function (result) {
      if (result.ok) {
        show("Authorized as " + (result.body.account_username || "your Imgur account"),
          "pixgate now calls Imgur for this account; its tokens are stored and refreshed for you.");
        next.classList.remove("hidden");
      } else {
        show("Authorization failed", result.body.detail || "The gateway refused the login.");
      }
    })
    .catch(function () {
      show("Authorization failed", "Could not reach the gateway.");
    });
})();
