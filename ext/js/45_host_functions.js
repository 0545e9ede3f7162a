// Host functions: Python callables an embedder exposes to JS with
// `Isolate(host_functions={...})`. Each becomes `host.name(...args)`, returning a Promise
// that the host settles between slices, so Python code never runs inside the JS time limit.

const { defineGlobals } = internal;

function exposeHostFunctions(names) {
  const host = Object.create(null);
  for (const name of names) {
    host[name] = { [name]: (...args) => native.hostOp(`host:${name}`, args) }[name];
  }
  defineGlobals({ host: Object.freeze(host) });
}

Object.assign(internal, { exposeHostFunctions });
