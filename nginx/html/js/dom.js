// Small DOM helpers. Text from the API (player names above all) only ever
// goes in through textContent, never as HTML.

/** document.getElementById that fails loudly. */
export function $(id) {
  const element = document.getElementById(id);
  if (!element) throw new Error(`#${id} is missing from the page`);
  return element;
}

/**
 * Makes an element: el("td", {className: "num", dataset: {rank: 1}}, "1").
 * Children are nodes or text (null and undefined are skipped).
 */
export function el(tag, properties = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(properties)) {
    if (key === "dataset") Object.assign(element.dataset, value);
    else if (key === "attrs") for (const [name, attr] of Object.entries(value)) element.setAttribute(name, attr);
    else element[key] = value;
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

/** Shows or hides an element and sets its text. */
export function say(element, text, kind) {
  element.textContent = text ?? "";
  element.hidden = !text;
  if (kind) element.dataset.kind = kind;
  else delete element.dataset.kind;
}

const numberFormat = new Intl.NumberFormat("en-US");
export const formatNumber = (value) => numberFormat.format(value);

/** The form's own message paragraph (.form-message). */
function formMessage(form) {
  return form.querySelector(".form-message");
}

/** Removes the messages of an earlier submission. */
export function clearFormErrors(form) {
  for (const input of form.querySelectorAll("[aria-invalid]")) {
    input.removeAttribute("aria-invalid");
    input.removeAttribute("aria-describedby");
  }
  for (const error of form.querySelectorAll(".field-error")) say(error, "");
  say(formMessage(form), "");
}

/**
 * Shows an ApiError on a form: each of a 422's field errors next to its input
 * (the input named like the field), the rest and the message above the button.
 * Focuses the first invalid input, or the message.
 */
export function showFormError(form, error) {
  clearFormErrors(form);
  const unplaced = [];
  let first = null;
  for (const { field, message } of error.fieldErrors ?? []) {
    const input = field ? form.elements.namedItem(field) : null;
    const holder = input instanceof HTMLElement ? form.querySelector(`#${CSS.escape(input.id)}-error`) : null;
    if (!holder) {
      unplaced.push(field ? `${field}: ${message}` : message);
      continue;
    }
    // Two errors for one field read as one sentence each; a message that names its field starts with the label instead.
    const own = message.startsWith(`${field} `) ? message.slice(field.length + 1) : message;
    const text = `${labelText(input)} ${own}.`.replace(/\.\.$/, ".");
    say(holder, holder.hidden ? text : `${holder.textContent} ${text}`);
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", holder.id);
    first ??= input;
  }
  const summary = [error.message, ...unplaced.map((line) => `${line}.`.replace(/\.\.$/, "."))].join(" ");
  say(formMessage(form), summary, "error");
  const target = first ?? formMessage(form);
  if (!first) target.setAttribute("tabindex", "-1");
  target.focus();
}

/** A success message on a form. */
export function showFormSuccess(form, text) {
  clearFormErrors(form);
  say(formMessage(form), text, "success");
}

function labelText(input) {
  const label = input.labels?.[0];
  if (!label) return input.name;
  // The label without its hint in parentheses.
  const clone = label.cloneNode(true);
  for (const hint of clone.querySelectorAll(".hint")) hint.remove();
  return clone.textContent.trim();
}

/** Disables a form's controls while a request is out; returns the undo. */
export function busy(form) {
  const controls = Array.from(form.elements).filter((control) => !control.disabled);
  for (const control of controls) control.disabled = true;
  form.setAttribute("aria-busy", "true");
  return () => {
    for (const control of controls) control.disabled = false;
    form.removeAttribute("aria-busy");
  };
}
