// How a game's scores read (DESIGN.md, "Game settings"): its `format` says how
// to show a score (`time_ms`: milliseconds as m:ss.mmm), its `order` which end
// of the board is the top, its `rule` what a player's entry is.

import { formatNumber } from "/js/dom.js";

/** What a game is taken to be until its settings are known (the ten seeded games' settings). */
export const DEFAULT_SETTINGS = Object.freeze({ order: "desc", rule: "best", format: "integer", minScore: 0, maxScore: 1_000_000_000 });

/** Milliseconds as m:ss.mmm (83456 -> "1:23.456"); minutes go past 59 rather than adding hours. */
export function formatTime(milliseconds) {
  const sign = milliseconds < 0 ? "-" : "";
  const total = Math.abs(milliseconds);
  const minutes = Math.floor(total / 60_000);
  const seconds = Math.floor(total / 1000) % 60;
  const millis = total % 1000;
  return `${sign}${minutes}:${String(seconds).padStart(2, "0")}.${String(millis).padStart(3, "0")}`;
}

/** A score as the game shows it. */
export function formatScore(score, settings = DEFAULT_SETTINGS) {
  if (typeof score !== "number") return String(score);
  return settings.format === "time_ms" ? formatTime(score) : formatNumber(score);
}

/**
 * A time typed as m:ss.mmm, m:ss, ss.mmm or whole milliseconds, in milliseconds;
 * null when the text is none of those.
 */
export function parseTime(text) {
  const match = /^(-)?(?:(\d+):([0-5]\d)|(\d+))(?:\.(\d{1,3}))?$/.exec(text.trim());
  if (!match) return null;
  const [, minus, minutes, secondsOfMinute, alone, fraction] = match;
  let milliseconds;
  if (minutes !== undefined) {
    milliseconds = (Number(minutes) * 60 + Number(secondsOfMinute)) * 1000 + Number((fraction ?? "").padEnd(3, "0"));
  } else if (fraction !== undefined) {
    milliseconds = Number(alone) * 1000 + Number(fraction.padEnd(3, "0"));
  } else {
    milliseconds = Number(alone);
  }
  return minus ? -milliseconds : milliseconds;
}

/**
 * A whole number for JSON when the text is one; otherwise the text itself, so
 * that the API says what is wrong with it (null when empty). Past 2^53 a number
 * rounds, but only to one that is out of every game's bounds.
 */
export function integerOrText(text) {
  const trimmed = text.trim();
  if (trimmed === "") return null;
  return /^-?\d+$/.test(trimmed) ? Number(trimmed) : trimmed;
}

/** The few words that tell how a board ranks, when it is not "highest best score wins"; "" otherwise. */
export function rankingNote(settings = DEFAULT_SETTINGS) {
  const notes = [];
  if (settings.order === "asc") notes.push("lowest wins");
  if (settings.rule === "sum") notes.push("total of all scores");
  else if (settings.rule === "latest") notes.push("latest score counts");
  const text = notes.join(" · ");
  return text && text[0].toUpperCase() + text.slice(1);
}

/** What a player's entry on the game's boards is called. */
export function entryName(settings = DEFAULT_SETTINGS) {
  if (settings.rule === "sum") return "total";
  if (settings.rule === "latest") return "latest score";
  return settings.order === "asc" && settings.format === "time_ms" ? "best time" : "best";
}
