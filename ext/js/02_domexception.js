// DOMException (WebIDL §2.8.1), with the legacy error code table.

const { defineGlobals, defineInterface, webidl } = internal;

// Error names with a legacy code; every other name has code 0.
const legacyCodes = {
  IndexSizeError: 1,
  HierarchyRequestError: 3,
  WrongDocumentError: 4,
  InvalidCharacterError: 5,
  NoModificationAllowedError: 7,
  NotFoundError: 8,
  NotSupportedError: 9,
  InUseAttributeError: 10,
  InvalidStateError: 11,
  SyntaxError: 12,
  InvalidModificationError: 13,
  NamespaceError: 14,
  InvalidAccessError: 15,
  TypeMismatchError: 17,
  SecurityError: 18,
  NetworkError: 19,
  AbortError: 20,
  URLMismatchError: 21,
  QuotaExceededError: 22,
  TimeoutError: 23,
  InvalidNodeTypeError: 24,
  DataCloneError: 25,
};

const codeConstants = {
  INDEX_SIZE_ERR: 1,
  DOMSTRING_SIZE_ERR: 2,
  HIERARCHY_REQUEST_ERR: 3,
  WRONG_DOCUMENT_ERR: 4,
  INVALID_CHARACTER_ERR: 5,
  NO_DATA_ALLOWED_ERR: 6,
  NO_MODIFICATION_ALLOWED_ERR: 7,
  NOT_FOUND_ERR: 8,
  NOT_SUPPORTED_ERR: 9,
  INUSE_ATTRIBUTE_ERR: 10,
  INVALID_STATE_ERR: 11,
  SYNTAX_ERR: 12,
  INVALID_MODIFICATION_ERR: 13,
  NAMESPACE_ERR: 14,
  INVALID_ACCESS_ERR: 15,
  VALIDATION_ERR: 16,
  TYPE_MISMATCH_ERR: 17,
  SECURITY_ERR: 18,
  NETWORK_ERR: 19,
  ABORT_ERR: 20,
  URL_MISMATCH_ERR: 21,
  QUOTA_EXCEEDED_ERR: 22,
  TIMEOUT_ERR: 23,
  INVALID_NODE_TYPE_ERR: 24,
  DATA_CLONE_ERR: 25,
};

class DOMException {
  #name;
  #message;

  constructor(message = "", name = "Error") {
    this.#message = webidl.toDOMString(message, "Failed to construct 'DOMException'");
    this.#name = webidl.toDOMString(name, "Failed to construct 'DOMException'");
    // Fields are set first so the captured stack starts with "Name: message".
    if (typeof Error.captureStackTrace === "function") {
      Error.captureStackTrace(this, DOMException);
    }
  }

  static #check(self) {
    if (!(#name in self)) throw webidl.illegalInvocation();
  }

  get name() {
    DOMException.#check(this);
    return this.#name;
  }

  get message() {
    DOMException.#check(this);
    return this.#message;
  }

  get code() {
    DOMException.#check(this);
    return legacyCodes[this.#name] ?? 0;
  }

  static isDOMException(value) {
    return webidl.isObject(value) && #name in value;
  }
}

// Like WebIDL requires, DOMException.prototype inherits from Error.prototype.
Object.setPrototypeOf(DOMException.prototype, Error.prototype);

const isDOMException = DOMException.isDOMException;
delete DOMException.isDOMException;

for (const [key, value] of Object.entries(codeConstants)) {
  const desc = { value, enumerable: true, writable: false, configurable: false };
  Object.defineProperty(DOMException, key, desc);
  Object.defineProperty(DOMException.prototype, key, desc);
}
defineInterface(DOMException);

defineGlobals({ DOMException });

Object.assign(internal, { DOMException, isDOMException });
