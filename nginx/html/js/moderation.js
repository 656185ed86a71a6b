// Trust and safety on the admin page (API.md, "Administration"; README, "Bans
// and score deletions"): find a player, ban or unban them, delete or restore
// their scores, read the audit log, and manage the game servers' API keys.
// Every action but the keys' needs a reason, which the audit log keeps.

import { api, ApiError } from "/js/api.js";
import { $, el, say, clearFormErrors, showFormError, showFormSuccess, busy } from "/js/dom.js";
import { formatScore } from "/js/scores.js";

/** "2026-12-05T01:02:03.456Z" as "2026-12-05 01:02 UTC"; null as "never". */
function when(timestamp) {
  if (!timestamp) return "never";
  return `${String(timestamp).replace("T", " ").slice(0, 16)} UTC`;
}

function button(text, dataset, className = "button secondary small") {
  return el("button", { type: "button", className, dataset }, text);
}

/** The reason the form holds, or null after showing by its field that one is needed. */
function reasonOf(form) {
  const reason = form.elements.reason.value.trim();
  if (reason) return reason;
  showFormError(form, new ApiError(422, "Say why, for the audit log.", [{ field: "reason", message: "is required" }]));
  return null;
}

/**
 * Runs one request with the form's controls disabled; shows a failure on the form.
 * Returns the answer, or null when it failed.
 */
async function submit(form, call, onRefused) {
  const done = busy(form);
  try {
    return await call();
  } catch (error) {
    if (!onRefused(error)) showFormError(form, error);
    return null;
  } finally {
    done();
  }
}

export class ModerationPage {
  /**
   * @param {{
   *   settingsOf: (slug: string) => object|undefined,  a game's settings, to show its scores as it does
   *   onRefused: (error: ApiError) => boolean          handles a 401 or 403; true when it did
   * }} page
   */
  constructor({ settingsOf, onRefused }) {
    this.settingsOf = settingsOf;
    this.onRefused = onRefused;
    this.searchForm = $("player-search-form");
    this.playerForm = $("player-form");
    this.keyForm = $("key-form");
    this.players = []; // the search's rows so far
    this.playersNext = null;
    this.player = null; // the player the panel shows
    this.scores = [];
    this.scoresNext = null;
    this.auditNext = null;
    this.auditLoads = 0; // an answer to an older request must not replace a newer one's
    this.keyLoads = 0;

    this.searchForm.addEventListener("submit", (event) => {
      event.preventDefault();
      this.search(false);
    });
    $("player-more").addEventListener("click", () => this.search(true));
    $("player-rows").addEventListener("click", (event) => {
      const open = event.target.closest("button[data-user-id]");
      const player = open && this.players.find((candidate) => String(candidate.id) === open.dataset.userId);
      if (player) this.openPlayer(player);
    });
    this.playerForm.addEventListener("submit", (event) => event.preventDefault());
    $("player-ban").addEventListener("click", () => this.toggleBan());
    $("player-scores-more").addEventListener("click", () => this.loadScores(true));
    $("player-score-rows").addEventListener("click", (event) => {
      const action = event.target.closest("button[data-score-id]");
      if (action) this.changeScore(action.dataset.scoreId, action.dataset.action);
    });
    $("audit-newest").addEventListener("click", () => this.loadAudit(false));
    $("audit-older").addEventListener("click", () => this.loadAudit(true));
    this.keyForm.addEventListener("submit", (event) => {
      event.preventDefault();
      this.createKey();
    });
    $("key-rows").addEventListener("click", (event) => {
      const revoke = event.target.closest("button[data-key-id]");
      if (revoke) this.revokeKey(revoke.dataset.keyId);
    });
    $("new-key-copy").addEventListener("click", () => this.copyKey());
  }

  /** What the page shows on opening: the newest audit entries and the keys. */
  load() {
    $("new-key").hidden = true;
    $("new-key-value").textContent = "";
    this.loadAudit(false);
    this.loadKeys();
  }

  // --- players ---

  async search(more) {
    const query = this.searchForm.elements.query.value.trim();
    const answer = await submit(this.searchForm, () => api.findPlayers(query, more ? this.playersNext : null), this.onRefused);
    if (!answer) return;
    clearFormErrors(this.searchForm);
    this.players = more ? [...this.players, ...answer.data.result] : answer.data.result;
    this.playersNext = answer.data.next;
    this.renderPlayers();
  }

  renderPlayers() {
    $("player-rows").replaceChildren(
      ...this.players.map((player) =>
        el(
          "tr",
          { dataset: { userId: player.id }, className: player.banned ? "banned" : "" },
          el("td", {}, player.name, player.role === "admin" ? " (admin)" : null),
          el("td", {}, player.email),
          el("td", {}, player.banned ? "Banned" : "Active"),
          el("td", { className: "num" }, button("Open", { userId: player.id }),
            el("span", { className: "visually-hidden" }, ` ${player.name}`)),
        ),
      ),
    );
    $("player-empty").hidden = this.players.length > 0;
    $("player-more").hidden = !this.playersNext;
  }

  async openPlayer(player) {
    this.player = player;
    this.playerForm.reset();
    clearFormErrors(this.playerForm);
    this.playerForm.hidden = false;
    this.renderPlayer();
    $("player-title").focus();
    await this.loadScores(false);
  }

  renderPlayer() {
    const player = this.player;
    $("player-title").textContent = `${player.name} (${player.email})`;
    $("player-status").textContent = player.banned
      ? `Banned${player.bannedReason ? `: ${player.bannedReason}` : ""}.`
      : "Active.";
    const ban = $("player-ban");
    ban.textContent = player.banned ? "Unban" : "Ban";
    ban.className = player.banned ? "button" : "button danger";
  }

  async toggleBan() {
    const player = this.player;
    const reason = reasonOf(this.playerForm);
    if (!player || !reason) return;
    const action = player.banned ? api.unbanPlayer : api.banPlayer;
    const answer = await submit(this.playerForm, () => action(player.id, reason), this.onRefused);
    if (!answer || this.player !== player) return;
    this.player = { ...player, ...answer.data };
    this.players = this.players.map((row) => (row.id === player.id ? this.player : row));
    this.renderPlayers();
    this.renderPlayer();
    this.playerForm.elements.reason.value = "";
    showFormSuccess(this.playerForm, this.player.banned ? `Banned ${player.name}.` : `Unbanned ${player.name}.`);
    this.loadAudit(false);
  }

  async loadScores(more) {
    const player = this.player;
    const answer = await submit(this.playerForm, () => api.playerScores(player.id, more ? this.scoresNext : null), this.onRefused);
    if (!answer || this.player !== player) return;
    this.scores = more ? [...this.scores, ...answer.data.result] : answer.data.result;
    this.scoresNext = answer.data.next;
    this.renderScores();
  }

  renderScores() {
    $("player-score-rows").replaceChildren(
      ...this.scores.map((score) => {
        const deleted = Boolean(score.deletedAt);
        const status = deleted
          ? `Deleted by ${score.deletedBy ?? "?"} ${when(score.deletedAt)}: ${score.deletedReason ?? ""}`
          : "Counts";
        return el(
          "tr",
          { dataset: { scoreId: score.id, deleted: String(deleted) }, className: deleted ? "deleted" : "" },
          el("td", {}, score.game),
          el("td", { className: "num" }, el("span", { className: "score-value" }, formatScore(score.score, this.settingsOf(score.game)))),
          el("td", {}, when(score.createdAt)),
          el("td", { className: "status" }, status),
          el("td", { className: "num" },
            button(deleted ? "Restore" : "Delete", { scoreId: score.id, action: deleted ? "restore" : "delete" },
              deleted ? "button secondary small" : "button danger small")),
        );
      }),
    );
    $("player-scores-empty").hidden = this.scores.length > 0;
    $("player-scores-more").hidden = !this.scoresNext;
  }

  async changeScore(id, action) {
    const reason = reasonOf(this.playerForm);
    if (!reason) return;
    const call = action === "restore" ? api.restoreScore : api.deleteScore;
    const answer = await submit(this.playerForm, () => call(id, reason), this.onRefused);
    if (!answer) return;
    this.scores = this.scores.map((score) => (String(score.id) === String(id) ? { ...score, ...answer.data } : score));
    this.renderScores();
    this.playerForm.elements.reason.value = "";
    const shown = formatScore(answer.data.score, this.settingsOf(answer.data.game));
    showFormSuccess(this.playerForm, `${action === "restore" ? "Restored" : "Deleted"} the score ${shown} in ${answer.data.game}.`);
    this.loadAudit(false);
  }

  // --- the audit log ---

  async loadAudit(older) {
    const message = $("audit-message");
    const load = ++this.auditLoads;
    let answer;
    try {
      answer = await api.audit(older ? this.auditNext : null);
    } catch (error) {
      if (load === this.auditLoads && !this.onRefused(error)) say(message, error.message, "error");
      return;
    }
    if (load !== this.auditLoads) return;
    say(message, "");
    this.auditNext = answer.data.next;
    $("audit-rows").replaceChildren(
      ...answer.data.result.map((entry) =>
        el(
          "tr",
          { dataset: { auditId: entry.id, action: entry.action, target: entry.target } },
          el("td", {}, when(entry.at)),
          el("td", {}, entry.actor),
          el("td", {}, entry.action),
          el("td", {}, entry.target),
          el("td", {}, entry.reason ?? ""),
        ),
      ),
    );
    $("audit-older").hidden = !this.auditNext;
  }

  // --- API keys ---

  async loadKeys() {
    const load = ++this.keyLoads;
    let answer;
    try {
      answer = await api.apiKeys();
    } catch (error) {
      if (load === this.keyLoads && !this.onRefused(error)) say($("key-list-message"), error.message, "error");
      return;
    }
    if (load !== this.keyLoads) return;
    const keys = answer.data ?? [];
    $("key-rows").replaceChildren(
      ...keys.map((key) =>
        el(
          "tr",
          { dataset: { keyId: key.id, revoked: String(Boolean(key.revoked)) } },
          el("td", {}, key.name),
          el("td", {}, key.games?.length ? key.games.join(", ") : "All games"),
          el("td", {}, when(key.createdAt)),
          el("td", {}, when(key.lastUsedAt)),
          el("td", {}, key.revoked ? "Revoked" : "Active"),
          el("td", { className: "num" }, key.revoked ? null : button("Revoke", { keyId: key.id }, "button danger small")),
        ),
      ),
    );
    $("key-empty").hidden = keys.length > 0;
  }

  async createKey() {
    const fields = this.keyForm.elements;
    const games = fields.games.value.split(",").map((slug) => slug.trim()).filter(Boolean);
    const answer = await submit(this.keyForm, () => api.createApiKey(fields.name.value.trim(), games.length ? games : null), this.onRefused);
    if (!answer) return;
    const key = answer.data;
    this.keyForm.reset();
    showFormSuccess(this.keyForm, `Created the key ${key.name}.`);
    $("new-key-value").textContent = key.key;
    say($("new-key-copied"), "");
    $("new-key").hidden = false;
    this.loadKeys();
  }

  async copyKey() {
    const text = $("new-key-value").textContent;
    const status = $("new-key-copied");
    try {
      await navigator.clipboard.writeText(text);
      say(status, "Copied.");
    } catch {
      // No clipboard (an insecure origin, or permission refused): select it for the person to copy.
      getSelection().selectAllChildren($("new-key-value"));
      say(status, "Press Ctrl+C to copy the selected key.");
    }
  }

  async revokeKey(id) {
    const message = $("key-list-message");
    try {
      await api.revokeApiKey(id);
    } catch (error) {
      if (!this.onRefused(error)) say(message, error.message, "error");
      return;
    }
    say(message, "Revoked.", "success");
    this.loadKeys();
    this.loadAudit(false);
  }
}
