// FormData (XMLHttpRequest Standard §5). Entries are [name, string | File].

const {
  defineGlobals, defineInterface, definePairIterable, inspectCustom, isBlob, isFile, webidl,
} = internal;

// "Create an entry": Blobs become Files, named "blob" unless a filename is given.
function createEntry(name, value, filename, method, hasFilename) {
  name = webidl.toUSVString(name);
  if (isBlob(value)) {
    const file = isFile(value);
    if (!file || hasFilename) {
      const fileName = hasFilename ? webidl.toUSVString(filename) : file ? value.name : "blob";
      value = new File([value], fileName, {
        type: value.type,
        lastModified: file ? value.lastModified : undefined,
      });
    }
    return [name, value];
  }
  if (hasFilename) {
    throw new TypeError(`Failed to execute '${method}' on 'FormData': parameter 2 is not of type 'Blob'.`);
  }
  return [name, webidl.toUSVString(value)];
}

let formDataOf;

let isFormData;
let formDataEntries;
class FormData {
  #entries = [];

  static {
    formDataOf = (v) => {
      if (!(webidl.isObject(v) && #entries in v)) throw webidl.illegalInvocation();
      return v;
    };
    isFormData = (v) => webidl.isObject(v) && #entries in v;
    formDataEntries = (fd) => fd.#entries;
  }

  constructor(form = undefined) {
    if (form !== undefined) {
      throw new TypeError("Failed to construct 'FormData': parameter 1 is not of type 'HTMLFormElement'.");
    }
  }

  append(name, value, filename = undefined) {
    const self = formDataOf(this);
    webidl.requiredArguments(arguments.length, 2, "Failed to execute 'append' on 'FormData'");
    self.#entries.push(createEntry(name, value, filename, "append", arguments.length > 2));
  }

  delete(name) {
    const self = formDataOf(this);
    webidl.requiredArguments(arguments.length, 1, "Failed to execute 'delete' on 'FormData'");
    const n = webidl.toUSVString(name);
    self.#entries = self.#entries.filter((e) => e[0] !== n);
  }

  get(name) {
    const self = formDataOf(this);
    webidl.requiredArguments(arguments.length, 1, "Failed to execute 'get' on 'FormData'");
    const n = webidl.toUSVString(name);
    const entry = self.#entries.find((e) => e[0] === n);
    return entry === undefined ? null : entry[1];
  }

  getAll(name) {
    const self = formDataOf(this);
    webidl.requiredArguments(arguments.length, 1, "Failed to execute 'getAll' on 'FormData'");
    const n = webidl.toUSVString(name);
    return self.#entries.filter((e) => e[0] === n).map((e) => e[1]);
  }

  has(name) {
    const self = formDataOf(this);
    webidl.requiredArguments(arguments.length, 1, "Failed to execute 'has' on 'FormData'");
    const n = webidl.toUSVString(name);
    return self.#entries.some((e) => e[0] === n);
  }

  set(name, value, filename = undefined) {
    const self = formDataOf(this);
    webidl.requiredArguments(arguments.length, 2, "Failed to execute 'set' on 'FormData'");
    const entry = createEntry(name, value, filename, "set", arguments.length > 2);
    const i = self.#entries.findIndex((e) => e[0] === entry[0]);
    if (i === -1) {
      self.#entries.push(entry);
    } else {
      self.#entries[i] = entry;
      self.#entries = self.#entries.filter((e, j) => j <= i || e[0] !== entry[0]);
    }
  }
}

defineInterface(FormData);
Object.defineProperty(FormData.prototype, inspectCustom, {
  value(inspect) {
    const entries = formDataEntries(this);
    return entries.length === 0 ? "FormData {}" : `FormData { ${entries.map(([k, v]) => `${inspect(k)} => ${inspect(v)}`).join(", ")} }`;
  },
  writable: true,
  configurable: true,
});
definePairIterable(FormData, "FormData", formDataOf, (fd) => formDataEntries(fd));
defineGlobals({ FormData });

Object.assign(internal, { isFormData, formDataEntries });
