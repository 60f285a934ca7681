/** @file A pipeline's options as a form, generated from their JSON Schema (`optionsJsonSchema`). Values go to the
 * worker as `key=value` strings, so they are coerced and checked exactly as the CLI's --set. */

interface Prop {
  type?: string;
  enum?: unknown[];
  default?: unknown;
  description?: string;
  minimum?: number;
  maximum?: number;
}

export interface OptionsForm {
  /** the `key=value` of every field whose text differs from its default */
  sets(): string[];
  /** mark the field an error message names (`option 'key'`), or clear the marks */
  mark(message: string | undefined): void;
}

const text = (v: unknown) => (v === undefined ? '' : typeof v === 'string' ? v : JSON.stringify(v));

/** Fill `form` from `schema`; `keep` holds earlier values by key (a rebuilt form keeps what the user typed). */
export function buildForm(form: HTMLFormElement, schema: unknown, keep: Record<string, string> = {}): OptionsForm {
  const props = ((schema as { properties?: Record<string, Prop> }).properties ?? {}) as Record<string, Prop>;
  form.replaceChildren();
  const fields = new Map<string, { el: HTMLInputElement | HTMLSelectElement; def: string }>();
  for (const [key, p] of Object.entries(props)) {
    const label = document.createElement('label');
    label.textContent = key;
    label.htmlFor = `opt-${key}`;
    if (p.description) label.title = p.description;
    let el: HTMLInputElement | HTMLSelectElement;
    const def = text(p.default);
    if (p.enum || p.type === 'boolean') {
      el = document.createElement('select');
      for (const v of p.enum ?? [true, false]) {
        const o = document.createElement('option');
        o.value = o.textContent = text(v);
        el.append(o);
      }
    } else {
      el = document.createElement('input');
      el.placeholder = p.type === 'integer' || p.type === 'number' ? p.type : (p.type ?? 'value');
    }
    el.id = `opt-${key}`;
    el.name = key;
    el.value = keep[key] ?? def;
    el.title = [p.description, p.minimum !== undefined ? `≥ ${p.minimum}` : '', p.maximum !== undefined ? `≤ ${p.maximum}` : ''].filter(Boolean).join(' · ');
    form.append(label, el);
    fields.set(key, { el, def });
  }
  return {
    sets: () => [...fields].filter(([, f]) => f.el.value.trim() !== f.def).map(([k, f]) => `${k}=${f.el.value.trim()}`),
    mark(message) {
      for (const [k, f] of fields) f.el.classList.toggle('bad', !!message && (message.includes(`option '${k}'`) || message.includes(`--set ${k}=`)));
    },
  };
}

/** the form's current texts by key */
export function formValues(form: HTMLFormElement): Record<string, string> {
  return Object.fromEntries([...form.querySelectorAll<HTMLInputElement | HTMLSelectElement>('input,select')].map((e) => [e.name, e.value]));
}
