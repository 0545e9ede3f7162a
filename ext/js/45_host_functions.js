// Host functions: Python callables an embedder exposes to JS with
// `Isolate(host_functions={...})`. Each becomes `host.name(...args)`, returning a Promise
// that the host settles between slices, so Python code never runs inside the JS time limit.

internal.exposeHostFunctions = function exposeHostFunctions(names) {
  const host = Object.create(null);
  for (const name of names) {
    host[name] = { [name]: (...args) => native.hostOp(`host:${name}`, args) }[name];
  }
  internal.defineGlobals({ host: Object.freeze(host) });
};
