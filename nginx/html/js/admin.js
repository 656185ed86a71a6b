// The admin page: the games, a form that creates one (POST /admin/games) and
// edits one (PATCH /admin/games/{slug}) with every setting (API.md,
// "Administration"). The page shows it to admins only; the API checks the
// role on every request anyway.

import { api, ApiError } from "/js/api.js";
import { $, el, clearFormErrors, showFormError, showFormSuccess, busy } from "/js/dom.js";
import { integerOrText, rankingNote } from "/js/scores.js";

const TEXT_FIELDS = ["slug", "label"];
const NUMBER_FIELDS = ["position", "minScore", "maxScore"];
const CHOICE_FIELDS = ["order", "rule", "tieBreak", "format"];
const FLAG_FIELDS = ["inGlobal", "authoritative", "archived"];

const FORMATS = { integer: "Whole numbers", time_ms: "Times (m:ss.mmm)" };

export class AdminPage {
  /**
   * @param {{
   *   games: () => object[],                 the games to list, as GET /games/{slug} gives them, in order
   *   remember: (game: object) => void,      takes a game the API returned (created, changed or opened)
   *   onRefused: (error: ApiError) => boolean  handles a 401 or 403; true when it did
   * }} page
   */
  constructor({ games, remember, onRefused }) {
    this.games = games;
    this.remember = remember;
    this.onRefused = onRefused;
    this.form = $("game-form");
    this.openForm = $("admin-open-form");
    this.rows = $("admin-game-rows");
    this.editing = null; // the game the form edits, as last known; null: the form creates one

    this.startCreating();
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.save();
    });
    this.openForm.addEventListener("submit", (event) => {
      event.preventDefault();
      this.open();
    });
    $("admin-new").addEventListener("click", () => {
      this.startCreating();
      this.form.elements.slug.focus();
    });
    this.rows.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-slug]");
      const game = button && this.games().find((candidate) => candidate.slug === button.dataset.slug);
      if (!game) return;
      this.startEditing(game);
      $("game-form-title").focus();
    });
    // A lower-is-better game never counts toward the global board: a new one starts outside it.
    this.form.elements.order.addEventListener("change", () => {
      if (!this.editing && this.form.elements.order.value === "asc") this.form.elements.inGlobal.checked = false;
    });
  }

  /** Lists the games; the form keeps what it holds. */
  render() {
    this.rows.replaceChildren(
      ...this.games().map((game) =>
        el(
          "tr",
          { dataset: { slug: game.slug } },
          el("td", {}, el("span", { className: "name" }, game.label), el("span", { className: "slug" }, game.slug)),
          el("td", {}, rankingNote(game) || "Highest best score wins"),
          el("td", {}, FORMATS[game.format] ?? game.format ?? "?"),
          el("td", {}, game.archived ? "Archived" : "Active"),
          el(
            "td",
            { className: "num" },
            el("button", { type: "button", className: "button secondary small", dataset: { slug: game.slug } }, "Edit",
              el("span", { className: "visually-hidden" }, ` ${game.label}`)),
          ),
        ),
      ),
    );
  }

  startCreating() {
    this.editing = null;
    this.form.reset();
    clearFormErrors(this.form);
    this.form.dataset.mode = "create";
    this.form.elements.slug.readOnly = false;
    $("game-form-title").textContent = "New game";
    $("game-form-submit").textContent = "Create game";
  }

  startEditing(game) {
    this.editing = game;
    clearFormErrors(this.form);
    this.fill(game);
    this.form.elements.reason.value = "";
    this.form.dataset.mode = "edit";
    this.form.dataset.slug = game.slug;
    this.form.elements.slug.readOnly = true;
    $("game-form-title").textContent = `Edit ${game.label}`;
    $("game-form-submit").textContent = "Save changes";
  }

  fill(game) {
    const fields = this.form.elements;
    for (const name of [...TEXT_FIELDS, ...NUMBER_FIELDS]) fields[name].value = String(game[name] ?? "");
    for (const name of CHOICE_FIELDS) fields[name].value = game[name];
    for (const name of FLAG_FIELDS) fields[name].checked = Boolean(game[name]);
  }

  /** The form's settings as the API takes them; an empty number is null. */
  read() {
    const fields = this.form.elements;
    const settings = { slug: fields.slug.value.trim(), label: fields.label.value };
    for (const name of NUMBER_FIELDS) settings[name] = integerOrText(fields[name].value);
    for (const name of CHOICE_FIELDS) settings[name] = fields[name].value;
    for (const name of FLAG_FIELDS) settings[name] = fields[name].checked;
    return settings;
  }

  async save() {
    const settings = this.read();
    const reason = this.form.elements.reason.value.trim();
    const editing = this.editing;
    let body;
    if (editing) {
      // Only what changed: order and rule may not change once the game has a score, even to themselves.
      body = {};
      for (const [name, value] of Object.entries(settings)) if (name !== "slug" && value !== editing[name]) body[name] = value;
      const emptied = Object.keys(body).filter((name) => body[name] === null);
      if (emptied.length) {
        const fieldErrors = emptied.map((field) => ({ field, message: "is required" }));
        showFormError(this.form, new ApiError(422, "Some fields are not valid.", fieldErrors));
        return;
      }
      if (Object.keys(body).length === 0) {
        showFormSuccess(this.form, "Nothing to save: no setting changed.");
        return;
      }
    } else {
      body = Object.fromEntries(Object.entries(settings).filter(([, value]) => value !== null));
    }
    if (reason) body.reason = reason;

    const done = busy(this.form);
    let answer;
    let failure;
    try {
      answer = editing ? await api.updateGame(editing.slug, body) : await api.createGame(body);
    } catch (error) {
      failure = error;
    } finally {
      done();
    }
    // The form may have moved on to another game meanwhile: this answer is no longer its.
    if (this.editing !== editing) return;
    if (failure) {
      if (!this.onRefused(failure)) showFormError(this.form, failure);
      return;
    }
    const game = answer.data;
    this.remember(game);
    this.startEditing(game);
    this.render();
    showFormSuccess(this.form, editing ? `Saved ${game.label}.` : `Created ${game.label} (${game.slug}).`);
  }

  /** Opens any game, archived ones too, by its slug. */
  async open() {
    const slug = this.openForm.elements.slug.value.trim();
    if (!slug) {
      showFormError(this.openForm, new ApiError(422, "Which game?", [{ field: "slug", message: "is required" }]));
      return;
    }
    const done = busy(this.openForm);
    let answer;
    let failure;
    try {
      answer = await api.game(slug);
    } catch (error) {
      failure = error;
    } finally {
      done();
    }
    if (failure) {
      if (!this.onRefused(failure)) showFormError(this.openForm, failure);
      return;
    }
    clearFormErrors(this.openForm);
    this.openForm.reset();
    this.remember(answer.data);
    this.render();
    this.startEditing(answer.data);
    $("game-form-title").focus();
  }
}
