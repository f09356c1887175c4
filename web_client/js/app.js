// Entry point: sign-in, the connection indicator, and the agent or supervisor view.

import { Connection, loadSchema } from "./protocol.js";
import { $, duration, errorText, startTicker, unlockAudio, askNotifications, toast } from "./dom.js";
import { AgentApp } from "./agent.js";
import { SupervisorApp } from "./supervisor.js";

// The schema comes before any connection; the sign-in button is enabled once
// everything below is wired (until then the form cannot submit by itself).
const conn = new Connection();
let view = null; // the mounted AgentApp or SupervisorApp

// For the browser tests and for poking at it from the console.
window.switchboard = { conn, get view() { return view; } };

startTicker(() => conn.now());

// ------------------------------------------------------------ connection

const CONN_TEXT = {
  offline: "Not connected",
  connecting: "Connecting…",
  online: "Connected",
  reconnecting: "Reconnecting…",
  signed_out: "Signed out",
};

let retryCountdown = null;

conn.addEventListener("state", (event) => {
  const { state, delay, attempt, reason } = event.detail;
  const box = $("#conn");
  box.dataset.state = state;
  const text = $(".conn-text", box);
  const retry = $(".conn-retry", box);
  clearInterval(retryCountdown);
  retry.hidden = state !== "reconnecting";
  text.textContent = CONN_TEXT[state] || state;
  if (state === "reconnecting" && delay) {
    const at = Date.now() + delay;
    const show = () => {
      const left = Math.max(0, Math.ceil((at - Date.now()) / 1000));
      text.textContent = `Connection lost — retrying in ${duration(left)} (attempt ${attempt})`;
    };
    show();
    retryCountdown = setInterval(show, 1000);
  }
  if (state === "signed_out") {
    text.textContent = `Signed out: ${reason || "session ended"}`;
    unmount();
    showLogin(reason ? `You were signed out: ${reason}.` : "");
  }
});

$(".conn-retry").addEventListener("click", () => conn._reconnectNow());

conn.on("welcome", (welcome) => {
  if (welcome.role !== "agent" && welcome.role !== "supervisor") {
    conn.logout();
    showLogin("This client is for agents and supervisors.");
    return;
  }
  if (!view || view.role !== welcome.role) {
    unmount();
    mount(welcome);
  } else {
    view.onWelcome(welcome);
  }
});

conn.addEventListener("gap", () => view && view.resync && view.resync());

// ------------------------------------------------------------------ views

function mount(welcome) {
  const active = document.activeElement;
  const focusWasOnLogin = !active || active === document.body || $("#login-view").contains(active);
  $("#login-view").hidden = true;
  $("#who").hidden = false;
  $(".who-name").textContent = welcome.display_name || welcome.principal;
  $(".who-role").textContent = welcome.role;
  const notifyBtn = $("#notify-btn");
  notifyBtn.hidden = !("Notification" in window) || Notification.permission !== "default";
  view = welcome.role === "agent" ? new AgentApp(conn) : new SupervisorApp(conn);
  view.role = welcome.role;
  view.onWelcome(welcome);
  document.title = `${welcome.display_name || welcome.principal} — Switchboard`;
  // The sign-in form had the focus and is hidden now: Tab would carry on from the
  // form's place, past the workspace's last buttons and out of the page (Chromium
  // and Firefox alike). Start at the top bar instead, as after a page load.
  if (focusWasOnLogin) $(".topbar").focus({ preventScroll: true });
}

function unmount() {
  if (view) view.destroy();
  view = null;
  $("#who").hidden = true;
  $("#presence").hidden = true;
  $("#agent-view").hidden = true;
  $("#supervisor-view").hidden = true;
  $("#invitations").replaceChildren();
  document.title = "Switchboard";
}

function showLogin(message = "") {
  $("#login-view").hidden = false;
  const err = $("#login-error");
  err.textContent = message;
  err.hidden = !message;
  $("#login-user").focus();
}

// ------------------------------------------------------------------ login

$("#login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  unlockAudio(); // a user gesture: the invitation sound may play later
  const form = event.currentTarget;
  const button = $("button[type=submit]", form);
  const err = $("#login-error");
  err.hidden = true;
  button.disabled = true;
  try {
    await conn.login($("#login-user").value.trim(), $("#login-pass").value);
    $("#login-pass").value = "";
  } catch (e) {
    err.textContent = e.code === "auth_failed" ? "Wrong username or password." : errorText(e);
    err.hidden = false;
  } finally {
    button.disabled = false;
  }
});

$("#logout").addEventListener("click", async () => {
  if (view && view.beforeLogout) await view.beforeLogout();
  conn.logout();
  unmount();
  showLogin();
});

$("#notify-btn").addEventListener("click", (event) => {
  askNotifications();
  event.currentTarget.hidden = true;
});

// Any click counts as the gesture that lets sound play.
document.addEventListener("pointerdown", unlockAudio, { once: true });
document.addEventListener("keydown", unlockAudio, { once: true });

window.addEventListener("unhandledrejection", (event) => {
  // A request that failed where nobody waited for it: say so, not silently.
  if (event.reason && event.reason.name === "ProtocolError") {
    event.preventDefault();
    toast(errorText(event.reason), "error");
  }
});

// --------------------------------------------------------------- startup

conn.schema = await loadSchema();
$("#login-form button[type=submit]").disabled = false;

if (conn.hasSession) {
  $("#login-view").hidden = true;
  const welcome = await conn.resumeStored();
  if (!welcome && conn.state !== "reconnecting") showLogin();
} else {
  showLogin();
}
