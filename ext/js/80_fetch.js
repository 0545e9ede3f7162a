// fetch() (Fetch Standard §5.6) on top of the host operation "fetch", which takes
// {method, url, headers, body} and resolves to {status, statusText, headers, body, url}.

const {
  addAbortAlgorithm, createResponse, defineGlobals, headerPairs, readBody, requestState, webidl,
} = internal;

function fetch(input, init = undefined) {
  return new Promise((resolve, reject) => {
    webidl.requiredArguments(arguments.length, 1, "Failed to execute 'fetch'");
    const request = new Request(input, init);
    const state = requestState(request);
    const signal = state.signal;
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    let settled = false;
    const removeAbort = addAbortAlgorithm(signal, (reason) => {
      if (settled) return;
      settled = true;
      reject(reason);
    });
    const finish = (settle, value) => {
      if (settled) return;
      settled = true;
      removeAbort();
      settle(value);
    };
    readBody(state.body)
      .then((body) => {
        if (settled) return undefined;
        return native.hostOp("fetch", {
          method: state.method,
          url: state.url,
          headers: headerPairs(state.headers),
          body,
          redirect: state.redirect,
        });
      })
      .then(
        (result) => {
          if (settled) return;
          const urlList = result.url && result.url !== state.url ? [state.url, result.url] : [state.url];
          finish(
            resolve,
            createResponse({
              status: result.status,
              statusText: result.statusText ?? "",
              headers: result.headers,
              body: result.body ?? null,
              urlList,
            }),
          );
        },
        (cause) => finish(reject, new TypeError("fetch failed", { cause })),
      );
  });
}

defineGlobals({ fetch });
