// The leaderboard page: the boards per game and period and a top-players
// report, for everyone (logged out, the board is reloaded over REST every few
// seconds); logged in, the board is live over /ws/v1/scores, with the player's
// standing (over /ws/v1/my-score and GET /me/standing) and score submission.
// Each game's scores read as its settings say (GET /games/{slug}); admins also
// get a page that creates and edits games, bans players, deletes scores, shows the
// audit log and manages API keys (#admin).

import { api, ApiError, randomKey, session } from "/js/api.js";
import { $, el, say, formatNumber, clearFormErrors, showFormError, showFormSuccess, busy } from "/js/dom.js";
import { LiveSocket } from "/js/live.js";
import { AdminPage } from "/js/admin.js";
import { ModerationPage } from "/js/moderation.js";
import { DEFAULT_SETTINGS, entryName, formatScore, parseTime, rankingNote } from "/js/scores.js";

const PAGE_SIZE = 10;
const PERIODS = {
  "all-time": { label: "All time", phrase: "all time" },
  daily: { label: "Today", phrase: "today (UTC)" },
  weekly: { label: "This week", phrase: "this week (UTC)" },
  monthly: { label: "This month", phrase: "this month (UTC)" },
};

const ALL_GAMES = { label: "All", value: "all" };

const state = {
  user: null, // {id, name, email, role}
  view: "boards", // or "admin"
  games: [ALL_GAMES], // the tabs: GET /games, then what this page's admin changed
  settings: new Map(), // slug -> the game's settings (GET /games/{slug}), archived games an admin opened too
  game: "all",
  period: "all-time",
  page: 0,
  board: null, // the last {result, totalCount} shown
  myRow: undefined, // the last /ws/v1/my-score result (undefined: none yet)
};

// --- elements ------------------------------------------------------------------

const authView = $("auth-view");
const boardsView = $("boards");
const memberView = $("member-view");
const loginLink = $("login-link");
const notice = $("notice");
const account = $("account");
const connection = $("connection");
const connectionText = $("connection-text");
const loginForm = $("login-form");
const signupForm = $("signup-form");
const tabs = $("game-tabs");
const boardTitle = $("board-title");
const boardCaption = $("board-caption");
const boardRows = $("board-rows");
const boardTable = $("board-table");
const boardEmpty = $("board-empty");
const boardError = $("board-error");
const boardSummary = $("board-summary");
const pagePrev = $("page-prev");
const pageNext = $("page-next");
const scoreForm = $("score-form");
const reportForm = $("report-form");
const adminView = $("admin-view");
const adminLink = $("admin-link");
const boardsLink = $("boards-link");

boardTitle.tabIndex = -1;

// --- helpers -----------------------------------------------------------------

function gameLabel(slug) {
  if (slug === "all") return "All games";
  return state.games.find((game) => game.value === slug)?.label ?? state.settings.get(slug)?.label ?? slug;
}

/** How the game's scores read; the global board's are plain points. */
function settingsOf(slug) {
  return state.settings.get(slug) ?? DEFAULT_SETTINGS;
}

const isAdmin = () => state.user?.role === "admin";

function utcDay(offsetDays = 0) {
  const date = new Date(Date.now() + offsetDays * 86_400_000);
  return date.toISOString().slice(0, 10);
}

function showNotice(text, action) {
  notice.replaceChildren(document.createTextNode(text));
  if (action) {
    const button = el("button", { type: "button", className: "button secondary small" }, action.label);
    button.addEventListener("click", action.run);
    notice.append(" ", button);
  }
  notice.hidden = !text;
}

/** For REST calls that need a session: a 401 means it is over. */
function handleSessionError(error) {
  if (error instanceof ApiError && error.unauthenticated) {
    endSession("Your session has ended (expired or logged out elsewhere). Log in again.");
    return true;
  }
  return false;
}

// --- the view in the address (#game=cod&period=weekly&page=2) ------------------

function readLocation() {
  const params = new URLSearchParams(location.hash.slice(1));
  state.view = params.has("admin") ? "admin" : "boards";
  const period = params.get("period");
  if (period && period in PERIODS) state.period = period;
  const game = params.get("game");
  if (game) state.game = game;
  const page = Number.parseInt(params.get("page") ?? "1", 10);
  state.page = Number.isFinite(page) && page > 0 ? page - 1 : 0;
}

function boardsAddress() {
  const params = new URLSearchParams({ game: state.game, period: state.period });
  if (state.page > 0) params.set("page", String(state.page + 1));
  return `#${params}`;
}

function writeLocation() {
  if (state.view === "boards") history.replaceState(null, "", boardsAddress());
}

// The header's links (and the browser's back and forward) change the address.
window.addEventListener("hashchange", () => {
  readLocation();
  if (boardsView.hidden && adminView.hidden) return; // not started yet
  showView();
});

// --- connection state --------------------------------------------------------

const socketStates = new Map();

function updateConnection(name, socketState, detail) {
  socketStates.set(name, { state: socketState, detail });
  const states = Array.from(socketStates.values());
  let shown;
  if (!state.user) {
    connection.hidden = true;
    return;
  }
  const waiting = states.filter((entry) => entry.state === "reconnecting");
  if (waiting.length) {
    const seconds = Math.max(...waiting.map((entry) => Math.ceil((entry.detail.retryIn ?? 0) / 1000)));
    shown = { key: "reconnecting", text: `Reconnecting in ${seconds} s…` };
  } else if (states.some((entry) => entry.state === "connecting")) {
    const retrying = states.some((entry) => entry.detail.attempt > 0);
    shown = retrying ? { key: "reconnecting", text: "Reconnecting…" } : { key: "connecting", text: "Connecting…" };
  } else if (states.length && states.every((entry) => entry.state === "live")) {
    shown = { key: "live", text: "Live" };
  } else {
    shown = { key: "offline", text: "Offline" };
  }
  connection.hidden = false;
  connection.dataset.state = shown.key;
  connectionText.textContent = shown.text;
  boardTable.classList.toggle("stale", shown.key !== "live" && state.board !== null);
}

// --- sockets -----------------------------------------------------------------

/**
 * A socket closed with 1008: the session is over (missing, expired or revoked
 * token), or the server found the client too chatty. /auth/me tells which
 * (refreshing the session once if its token expired). A visitor's board
 * socket was refused a cookie left from a session that ended: logout clears it.
 */
async function onPolicyClose(socket) {
  if (!state.user) {
    await api.logout().catch(() => {});
    socket.resume();
    return;
  }
  try {
    await api.me();
  } catch (error) {
    if (handleSessionError(error)) return;
  }
  if (state.user) socket.resume();
}

const scoresSocket = new LiveSocket("/ws/v1/scores", {
  onOpen: () => sendViewNow(),
  onMessage: onBoardMessage,
  onState: (socketState, detail) => updateConnection("scores", socketState, detail),
  onPolicyClose: () => onPolicyClose(scoresSocket),
  onTokenExpiring: () => session.refresh(),
});

const myScoreSocket = new LiveSocket("/ws/v1/my-score", {
  onMessage: onMyScore,
  onState: (socketState, detail) => updateConnection("my-score", socketState, detail),
  onPolicyClose: () => onPolicyClose(myScoreSocket),
  onTokenExpiring: () => session.refresh(),
});

// A refreshed session's sockets keep their views: they renew in place.
session.onRefresh((token) => {
  if (!state.user) return;
  scoresSocket.renew(token);
  myScoreSocket.renew(token);
});

function currentView() {
  const start = state.page * PAGE_SIZE;
  return { game: state.game, start, end: start + PAGE_SIZE - 1, period: state.period };
}

// leaderboard-ws ignores a client's messages beyond 20 a second (WS_MESSAGES_PER_SECOND):
// rapid paging or a held arrow key sends the latest view at most every SEND_INTERVAL ms.
const SEND_INTERVAL = 150;
let lastSent = 0;
let sendTimer = null;

/** Subscribes to the board the page shows (soon); without a live socket, loads it once over REST. */
function sendView() {
  writeLocation();
  const wait = lastSent + SEND_INTERVAL - Date.now();
  if (wait > 0 && scoresSocket.isOpen) {
    sendTimer ??= setTimeout(sendViewNow, wait);
    return;
  }
  sendViewNow();
}

function sendViewNow() {
  clearTimeout(sendTimer);
  sendTimer = null;
  say(boardError, "");
  if (scoresSocket.send(currentView())) lastSent = Date.now();
  else loadBoardOnce();
}

let restGeneration = 0;

async function loadBoardOnce() {
  const view = currentView();
  const generation = ++restGeneration;
  const anonymous = state.user === null;
  try {
    const { data } = await api.board(view.game, view.period, view.start, view.end, { anonymous });
    // A later view change, or the socket, got there first.
    if (generation !== restGeneration || scoresSocket.isOpen) return;
    renderBoard(data.result, data.totalCount);
  } catch (error) {
    if (generation !== restGeneration || handleSessionError(error)) return;
    say(boardError, error.message, "error");
  }
}

function onBoardMessage(message) {
  if (!message || typeof message !== "object") return;
  if (typeof message.error === "string") {
    say(boardError, `The live board refused the request: ${message.error}`, "error");
    return;
  }
  if (!Array.isArray(message.result)) return;
  // A push for the board shown before a switch can still be on its way: its rows name their game.
  if (message.result.some((row) => row.game && row.game !== state.game)) return;
  restGeneration++; // a REST answer still out is older than this
  say(boardError, "");
  renderBoard(message.result, Number(message.totalCount) || 0);
}

function onMyScore(message) {
  if (!message || typeof message !== "object" || !("result" in message)) return;
  state.myRow = message.result;
  renderMyRow();
  refreshStandingSoon();
}

// --- the board ----------------------------------------------------------------

function renderTabs() {
  const selected = state.games.some((game) => game.value === state.game) ? state.game : "all";
  state.game = selected;
  tabs.replaceChildren(
    ...state.games.map((game) => {
      const isSelected = game.value === selected;
      const tab = el(
        "button",
        {
          type: "button",
          className: "tab",
          id: `tab-${game.value}`,
          tabIndex: isSelected ? 0 : -1,
          dataset: { game: game.value },
          attrs: { role: "tab", "aria-selected": String(isSelected), "aria-controls": "board-panel" },
        },
        game.value === "all" ? "All games" : game.label,
      );
      return tab;
    }),
  );
  $("board-panel").setAttribute("aria-labelledby", `tab-${selected}`);
  requestAnimationFrame(() => document.getElementById(`tab-${selected}`)?.scrollIntoView({ block: "nearest", inline: "nearest" }));
}

function selectGame(slug, { focus = false } = {}) {
  if (slug === state.game) return;
  state.game = slug;
  state.page = 0;
  for (const tab of tabs.querySelectorAll('[role="tab"]')) {
    const isSelected = tab.dataset.game === slug;
    tab.setAttribute("aria-selected", String(isSelected));
    tab.tabIndex = isSelected ? 0 : -1;
    if (isSelected) {
      if (focus) tab.focus();
      // On a phone the tabs scroll sideways: keep the selected one in sight.
      tab.scrollIntoView({ block: "nearest", inline: "nearest" });
    }
  }
  $("board-panel").setAttribute("aria-labelledby", `tab-${slug}`);
  // Scores are submitted for the game one looks at.
  if (slug !== "all") {
    $("score-game").value = slug;
    renderScoreInput();
  }
  viewChanged();
}

tabs.addEventListener("click", (event) => {
  const tab = event.target.closest('[role="tab"]');
  if (tab) selectGame(tab.dataset.game);
});

// Arrow keys, Home and End move between the tabs (the WAI-ARIA tabs pattern).
tabs.addEventListener("keydown", (event) => {
  const all = Array.from(tabs.querySelectorAll('[role="tab"]'));
  const index = all.findIndex((tab) => tab.dataset.game === state.game);
  let next = null;
  if (event.key === "ArrowRight") next = all[(index + 1) % all.length];
  else if (event.key === "ArrowLeft") next = all[(index - 1 + all.length) % all.length];
  else if (event.key === "Home") next = all[0];
  else if (event.key === "End") next = all[all.length - 1];
  if (!next) return;
  event.preventDefault();
  selectGame(next.dataset.game, { focus: true });
});

for (const radio of document.querySelectorAll('input[name="period"]')) {
  radio.addEventListener("change", () => {
    if (!radio.checked) return;
    state.period = radio.value;
    state.page = 0;
    viewChanged();
    refreshStanding();
  });
}

pagePrev.addEventListener("click", () => {
  if (state.page === 0) return;
  state.page -= 1;
  viewChanged();
});

pageNext.addEventListener("click", () => {
  state.page += 1;
  viewChanged();
});

function viewChanged() {
  renderHeading();
  boardTable.setAttribute("aria-busy", "true");
  sendView();
}

function renderHeading() {
  const title = `${gameLabel(state.game)} · ${PERIODS[state.period].label}`;
  const settings = settingsOf(state.game);
  const note = rankingNote(settings);
  boardTitle.textContent = title;
  say($("board-ranking"), note);
  boardCaption.textContent = `Leaderboard of ${gameLabel(state.game)}, ${PERIODS[state.period].phrase}${note ? ` (${note.toLowerCase()})` : ""}`;
  $("board-score-head").textContent = settings.format === "time_ms" ? "Time" : "Score";
  for (const radio of document.querySelectorAll('input[name="period"]')) radio.checked = radio.value === state.period;
}

function renderBoard(rows, totalCount) {
  const previous = new Map((state.board?.result ?? []).map((row) => [row.userId, row]));
  const settings = settingsOf(state.game);
  const sameView = state.board?.view === JSON.stringify(currentView());
  state.board = { result: rows, totalCount, view: JSON.stringify(currentView()) };

  // Past the end (the board shrank, or an old address): go to the last page.
  if (rows.length === 0 && totalCount > 0 && state.page > 0) {
    state.page = Math.max(0, Math.ceil(totalCount / PAGE_SIZE) - 1);
    viewChanged();
    return;
  }

  boardRows.replaceChildren(
    ...rows.map((row) => {
      const mine = state.user !== null && row.userId === state.user.id;
      const before = previous.get(row.userId);
      const changed = sameView && (!before || before.score !== row.score || before.rank !== row.rank);
      const tr = el(
        "tr",
        {
          className: [mine ? "mine" : "", changed ? "changed" : ""].join(" ").trim(),
          dataset: { userId: row.userId, rank: row.rank, score: row.score },
        },
        el("td", { className: "num rank" }, String(row.rank)),
        el(
          "td",
          { className: "player" },
          el("span", { className: "name" }, row.player),
          mine ? el("span", { className: "you" }, "you") : null,
          // Shown instead of the date column on narrow screens.
          el("span", { className: "sub-date" }, row.date),
        ),
        el("td", { className: "num score" }, formatScore(row.score, settings)),
        el("td", { className: "date" }, el("time", { dateTime: row.date }, row.date)),
      );
      if (mine) tr.setAttribute("aria-current", "true");
      return tr;
    }),
  );
  // Which board the rows are of (the tests wait for it, too).
  Object.assign(boardTable.dataset, { game: state.game, period: state.period, page: String(state.page + 1) });
  boardTable.removeAttribute("aria-busy");
  boardTable.classList.toggle("stale", state.user !== null && !scoresSocket.isOpen);
  boardEmpty.hidden = rows.length > 0;
  boardTable.hidden = rows.length === 0;

  const first = state.page * PAGE_SIZE;
  const time = new Date().toLocaleTimeString("en-GB");
  const players = `${formatNumber(totalCount)} player${totalCount === 1 ? "" : "s"}`;
  const shown = rows.length > 1 ? `${first + 1}–${first + rows.length}` : String(first + 1);
  boardSummary.textContent = rows.length > 0 ? `${shown} of ${players} · updated ${time}` : `${players} · updated ${time}`;
  pagePrev.disabled = state.page === 0;
  pageNext.disabled = first + PAGE_SIZE >= totalCount;
}

// --- my standing ---------------------------------------------------------------

function renderMyRow() {
  const holder = $("standing-global");
  const row = state.myRow;
  if (row === undefined) {
    holder.replaceChildren(el("p", { className: "muted" }, "Waiting for the live standing…"));
  } else if (row === null) {
    holder.replaceChildren(el("p", {}, "You are not on the global board yet. Submit a score to get ranked."));
  } else {
    holder.replaceChildren(
      el(
        "p",
        { className: "big-rank" },
        el("span", { className: "rank-number", dataset: { rank: row.rank } }, `#${row.rank}`),
        el("span", { className: "rank-label" }, " on the global board"),
      ),
      el("p", { className: "muted" }, `${formatNumber(row.score)} points in all games, all time`),
    );
  }
}

let standingTimer = null;
let standingGeneration = 0;
let standingRetry = 1; // seconds before the next try after a failure; doubles up to 30

function refreshStandingSoon() {
  clearTimeout(standingTimer);
  standingTimer = setTimeout(refreshStanding, 250);
}

async function refreshStanding() {
  clearTimeout(standingTimer);
  if (!state.user) return;
  const generation = ++standingGeneration;
  const period = state.period;
  try {
    const { data } = await api.standing(period);
    if (generation !== standingGeneration) return;
    say($("standing-error"), "");
    const boards = [...(data?.boards ?? [])].sort((a, b) => (a.game === "all" ? -1 : b.game === "all" ? 1 : a.rank - b.rank));
    const table = $("standing-table");
    table.hidden = boards.length === 0;
    $("standing-caption").textContent = `Your boards, ${PERIODS[period].phrase}`;
    $("standing-rows").replaceChildren(
      ...boards.map((entry) =>
        el(
          "tr",
          { dataset: { game: entry.game } },
          el("td", {}, gameLabel(entry.game)),
          el("td", { className: "num" }, `#${entry.rank}`),
          el("td", { className: "num" }, formatScore(entry.score, settingsOf(entry.game))),
        ),
      ),
    );
  } catch (error) {
    if (generation !== standingGeneration || handleSessionError(error)) return;
    say($("standing-error"), error.message, "error");
    // A store that is down (503) or a rate limit (429) passes: try again by itself.
    if (error.status === 503 || error.status === 429 || error.status === 0) {
      standingRetry = Math.min(30, Math.max(2, error.retryAfter ?? 0, standingRetry * 2));
      clearTimeout(standingTimer);
      standingTimer = setTimeout(refreshStanding, standingRetry * 1000);
    }
    return;
  }
  standingRetry = 1;
}

// --- score submission ------------------------------------------------------------

/** A number when the text is one; otherwise the text, so the API explains what is wrong with it. */
function scoreValue(text) {
  const trimmed = text.trim();
  if (trimmed === "") return null;
  return /^-?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(trimmed) ? Number(trimmed) : trimmed;
}

/** The score field as the chosen game takes it: a time (m:ss.mmm) or a number, and which end wins. */
function renderScoreInput() {
  const settings = settingsOf(scoreForm.elements.game.value);
  const isTime = settings.format === "time_ms";
  const input = scoreForm.elements.score;
  $("score-value-name").textContent = isTime ? "Time" : "Score";
  const hints = [isTime ? "m:ss.mmm" : "", settings.order === "asc" ? "lowest wins" : ""].filter(Boolean);
  $("score-value-hint").textContent = hints.length ? `(${hints.join(", ")})` : "";
  input.inputMode = isTime ? "decimal" : "numeric";
  input.placeholder = isTime ? "1:23.456" : "";
}

$("score-game").addEventListener("change", renderScoreInput);

scoreForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const game = scoreForm.elements.game.value;
  const settings = settingsOf(game);
  const typed = scoreForm.elements.score.value;
  let score = scoreValue(typed);
  if (settings.format === "time_ms" && score !== null) {
    score = parseTime(typed);
    if (score === null) {
      const fieldErrors = [{ field: "score", message: "must look like 1:23.456 (minutes:seconds.milliseconds)" }];
      showFormError(scoreForm, new ApiError(422, "Some fields are not valid.", fieldErrors));
      return;
    }
  }
  const done = busy(scoreForm);
  let answer;
  let failure;
  try {
    answer = await api.submitScore(game, score, randomKey());
  } catch (error) {
    failure = error;
  } finally {
    done();
  }
  if (failure) {
    if (!handleSessionError(failure)) showFormError(scoreForm, failure);
    return;
  }
  const { status, message, data } = answer;
  const label = gameLabel(data?.game ?? game);
  let text;
  if (status === 202) {
    text = `${formatScore(data?.score ?? score, settings)} for ${label}: ${message || "stored; the leaderboard will show it shortly"}.`;
  } else {
    const improvement = settings.rule === "best" ? "a new personal best!" : "counted.";
    text =
      `${formatScore(data.score, settings)} for ${label}: ${data.improved ? improvement : "recorded."} ` +
      `Your ${entryName(settings)} is ${formatScore(data.best, settings)}, rank #${data.rank} in ${label}` +
      (Number.isInteger(data.globalRank) ? ` and #${data.globalRank} overall.` : ".");
  }
  showFormSuccess(scoreForm, text);
  scoreForm.elements.score.value = "";
  refreshStanding();
});

// --- report ----------------------------------------------------------------------

reportForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = reportForm.elements;
  const limit = form.limit.value.trim();
  const done = busy(reportForm);
  let answer;
  let failure;
  try {
    answer = await api.report(form.start.value, form.end.value, limit, form.game.value, { anonymous: state.user === null });
  } catch (error) {
    failure = error;
  } finally {
    done();
  }
  const table = $("report-table");
  if (failure) {
    if (!handleSessionError(failure)) showFormError(reportForm, failure);
    return;
  }
  clearFormErrors(reportForm);
  const rows = answer.data?.result ?? [];
  $("report-caption").textContent =
    `Top ${rows.length} of ${gameLabel(form.game.value || "all")}, ` +
    `${form.start.value || "the beginning"} to ${form.end.value || "today"} (UTC)` +
    (settingsOf(form.game.value).order === "asc" ? ", lowest wins" : "");
  $("report-rows").replaceChildren(
    ...rows.map((row) =>
      el(
        "tr",
        { className: state.user && row.userId === state.user.id ? "mine" : "", dataset: { userId: row.userId } },
        el("td", { className: "num" }, String(row.rank)),
        el("td", {}, row.name),
        el("td", { className: "num" }, formatScore(row.score, settingsOf(row.game))),
        el("td", {}, row.gameLabel ?? gameLabel(row.game)),
        el("td", {}, el("time", { dateTime: row.date }, row.date)),
        el("td", { className: "num" }, String(row.games)),
      ),
    ),
  );
  table.hidden = rows.length === 0;
  $("report-empty").hidden = rows.length > 0;
});

// --- games -----------------------------------------------------------------------

/** The games (GET /games) and the settings of each (GET /games/{slug}, all at once). */
async function loadGames() {
  try {
    const { data } = await api.games();
    if (Array.isArray(data) && data.length) state.games = data;
  } catch (error) {
    showNotice(`Could not load the list of games: ${error.message}`, { label: "Try again", run: () => start() });
    return false;
  }
  const answers = await Promise.allSettled(state.games.filter((game) => game.value !== "all").map((game) => api.game(game.value)));
  const failures = [];
  for (const answer of answers) {
    if (answer.status === "fulfilled" && answer.value.data?.slug) state.settings.set(answer.value.data.slug, answer.value.data);
    else failures.push(answer.reason?.message ?? "no settings in the answer");
  }
  if (failures.length) {
    showNotice(`Could not load the settings of ${failures.length} game(s), whose scores show as plain numbers: ${failures[0]}`, {
      label: "Try again",
      run: () => start(),
    });
  }
  renderGameChoices();
  return true;
}

/** The games' selects, keeping what each had chosen. */
function renderGameChoices() {
  const scoreGame = $("score-game");
  const reportGame = $("report-game");
  const chosen = [scoreGame.value, reportGame.value];
  const playable = state.games.filter((game) => game.value !== "all");
  scoreGame.replaceChildren(...playable.map((game) => el("option", { value: game.value }, game.label)));
  reportGame.replaceChildren(
    ...state.games.map((game) => el("option", { value: game.value }, game.value === "all" ? "All games" : game.label)),
  );
  if (playable.some((game) => game.value === chosen[0])) scoreGame.value = chosen[0];
  if (state.games.some((game) => game.value === chosen[1])) reportGame.value = chosen[1];
  renderScoreInput();
}

function byPosition(a, b) {
  const first = state.settings.get(a.value)?.position ?? Number.MAX_SAFE_INTEGER;
  const second = state.settings.get(b.value)?.position ?? Number.MAX_SAFE_INTEGER;
  if (first !== second) return first < second ? -1 : 1;
  return a.value < b.value ? -1 : a.value > b.value ? 1 : 0;
}

/**
 * A game as the admin API returned it (created, changed, or opened by slug): its settings, and its
 * tab where its position puts it, or none once archived, without asking for every game again.
 */
function rememberGame(game) {
  state.settings.set(game.slug, game);
  const listed = state.games.filter((entry) => entry.value !== "all" && entry.value !== game.slug);
  if (!game.archived) listed.push({ label: game.label, value: game.slug });
  state.games = [ALL_GAMES, ...listed.sort(byPosition)];
  renderGameChoices();
}

/** What the admin page lists: every game whose settings the page has, archived ones too, by position. */
function adminGames() {
  return Array.from(state.settings.values()).sort((a, b) => byPosition({ value: a.slug }, { value: b.slug }));
}

// --- the admin page ------------------------------------------------------------

const adminPage = new AdminPage({
  games: adminGames,
  remember: rememberGame,
  onRefused: (error) => {
    if (handleSessionError(error)) return true;
    if (error instanceof ApiError && error.status === 403) checkRole();
    return false;
  },
});

const moderationPage = new ModerationPage({
  settingsOf: (slug) => state.settings.get(slug),
  onRefused: (error) => {
    if (handleSessionError(error)) return true;
    if (error instanceof ApiError && error.status === 403) checkRole();
    return false;
  },
});

/** Asks the API for the session's role again (login's answer does not say it; an admin can lose it). */
async function checkRole() {
  try {
    const { data } = await api.me();
    if (!state.user || data?.id !== state.user.id) return;
    state.user.role = data.role;
  } catch (error) {
    handleSessionError(error);
    return;
  }
  if (state.view === "admin" && !isAdmin()) {
    showBoards();
    sendView();
    showNotice("Your account is no longer an admin.");
  }
  renderNav();
}

/** The header's links between the boards and, for admins, the admin page. */
function renderNav() {
  document.body.dataset.role = state.user ? (state.user.role ?? "unknown") : "visitor";
  adminLink.hidden = !isAdmin() || state.view === "admin";
  boardsLink.hidden = state.view !== "admin";
}

function showAdmin() {
  state.view = "admin";
  boardsView.hidden = true;
  adminView.hidden = false;
  boardsLink.href = boardsAddress();
  renderNav();
  adminPage.render();
  moderationPage.load();
  $("admin-title").focus();
}

/** The page the address names: the admin page for an admin, else the boards. */
function showView() {
  if (state.view === "admin" && isAdmin()) {
    showAdmin();
    return;
  }
  showBoards();
  sendView();
}

// --- sessions ----------------------------------------------------------------------

/** The boards, the report and, logged in, the player's own cards. */
function showBoards() {
  state.view = "boards";
  state.board = null;
  adminView.hidden = true;
  boardsView.hidden = false;
  renderTabs();
  renderHeading();
  boardRows.replaceChildren();
  boardSummary.textContent = "Loading…";
  if (state.game !== "all") $("score-game").value = state.game;
  renderScoreInput();
  renderNav();
  const form = reportForm.elements;
  if (!form.start.value) form.start.value = utcDay(-6);
  if (!form.end.value) form.end.value = utcDay(0);
  writeLocation();
}

function showAuth() {
  state.user = null;
  memberView.hidden = true;
  account.hidden = true;
  connection.hidden = true;
  authView.hidden = false;
  loginLink.hidden = false;
  showBoards();
  // Visitors watch the board live too: /ws/v1/scores serves anonymous clients.
  scoresSocket.start();
  if (!scoresSocket.isOpen) loadBoardOnce();
}

function showApp(user) {
  state.user = user;
  state.myRow = undefined;
  authView.hidden = true;
  loginLink.hidden = true;
  memberView.hidden = false;
  account.hidden = false;
  $("account-name").textContent = user.name;
  if (state.view === "admin" && isAdmin()) showAdmin();
  else showBoards();
  renderMyRow();
  // A visitor's board socket was anonymous: it opens again with the session's cookie, so it renews with it.
  scoresSocket.stop();
  scoresSocket.start();
  myScoreSocket.start();
  refreshStanding();
  if (!scoresSocket.isOpen) loadBoardOnce();
}

/** Back to the login form, with a reason. */
function endSession(reason) {
  const wasIn = state.user !== null;
  session.ended();
  scoresSocket.stop();
  myScoreSocket.stop();
  socketStates.clear();
  showAuth();
  if (reason && wasIn) showNotice(reason);
  $("login-email").focus();
}

loginForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const email = loginForm.elements.email.value.trim();
  const password = loginForm.elements.password.value;
  const done = busy(loginForm);
  let answer;
  let failure;
  try {
    answer = await api.login(email, password);
  } catch (error) {
    failure = error;
  } finally {
    done();
  }
  if (failure) {
    showFormError(loginForm, failure);
    return;
  }
  loggedIn(answer.data, loginForm);
});

signupForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const name = signupForm.elements.name.value;
  const email = signupForm.elements.email.value.trim();
  const password = signupForm.elements.password.value;
  const done = busy(signupForm);
  let answer;
  let failure;
  let created = false;
  try {
    await api.signup(name, email, password);
    created = true;
    answer = await api.login(email, password);
  } catch (error) {
    failure = error;
  } finally {
    done();
  }
  if (failure) {
    if (created) {
      failure.message = `Your account was created, but logging in failed: ${failure.message} Log in with the form on the left.`;
      loginForm.elements.email.value = email;
    }
    showFormError(signupForm, failure);
    return;
  }
  loggedIn(answer.data, signupForm);
});

loginLink.addEventListener("click", () => $("login-email").focus());

/** After a login: `data` is its {token, refreshToken, user}; the token is only read for its expiry. */
function loggedIn(data, form) {
  clearFormErrors(form);
  form.reset();
  showNotice("");
  session.started(data.token);
  showApp(data.user);
  boardTitle.focus();
  checkRole();
}

$("logout").addEventListener("click", async () => {
  const button = $("logout");
  button.disabled = true;
  try {
    await api.logout();
  } catch (error) {
    // Already logged out is what was asked for; anything else keeps the session.
    if (!(error instanceof ApiError && error.unauthenticated)) {
      showNotice(`Logging out failed: ${error.message}`);
      return;
    }
  } finally {
    button.disabled = false;
  }
  endSession("");
  showNotice("You are logged out.");
});

// --- start ----------------------------------------------------------------------------

async function start() {
  showNotice("");
  readLocation();
  await loadGames();
  // A session from an earlier visit: refreshing it now says when to refresh next.
  await session.refresh();
  let user;
  try {
    user = (await api.me()).data;
  } catch (error) {
    if (error instanceof ApiError && error.unauthenticated) {
      showAuth();
      return;
    }
    showNotice(`Could not check your session: ${error.message}`, { label: "Try again", run: () => start() });
    return;
  }
  showApp(user);
}

start();
