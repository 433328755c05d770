// The public GraphQL API, as any front end would use it: POST /graphql with a bearer token,
// subscriptions over graphql-transport-ws on the same path. Nothing here knows a screen.

const TOKEN_KEY = "sekvens.token";

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

/** A request the API refused as a whole (GraphQL errors, HTTP errors): `errors` as sent. */
export class ApiError extends Error {
  constructor(errors) {
    super(errors.map((e) => e.message).join(" "));
    this.errors = errors;
  }
  get code() {
    return this.errors[0]?.extensions?.code;
  }
}

/** Run a query or mutation; resolves to `data`, throws ApiError on GraphQL errors. */
export async function gql(query, variables = {}) {
  const headers = { "Content-Type": "application/json" };
  const t = token();
  if (t) headers.Authorization = `Bearer ${t}`;
  let response;
  try {
    response = await fetch("/graphql", {
      method: "POST",
      headers,
      body: JSON.stringify({ query, variables }),
    });
  } catch (e) {
    throw new ApiError([{ message: "The server could not be reached. Is it running?" }]);
  }
  let body;
  try {
    body = await response.json();
  } catch (e) {
    throw new ApiError([{ message: `The server answered ${response.status}.` }]);
  }
  if (body.errors?.length) throw new ApiError(body.errors);
  return body.data;
}

/**
 * Run a mutation whose payload has `errors` (UserError list); resolves to the payload.
 * The payload's errors are returned, not thrown: the caller shows them beside what caused them.
 */
export async function mutate(name, input, selection, argName = "input") {
  const data = await gql(
    `mutation($input: ${inputType(name)}!) { ${name}(${argName}: $input) { ` +
      `errors { code message field stepId index } ${selection} } }`,
    { input },
  );
  return data[name];
}

function inputType(name) {
  return name.charAt(0).toUpperCase() + name.slice(1) + "Input";
}

/**
 * Subscribe over graphql-transport-ws. `onData(data)` gets each result; returns a function
 * that stops it. Reconnects after a dropped socket (with a growing delay) until stopped.
 */
export function subscribe(query, variables, onData, onError = () => {}) {
  let socket = null;
  let stopped = false;
  let delay = 500;
  const open = () => {
    const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/graphql`;
    socket = new WebSocket(url, "graphql-transport-ws");
    socket.onopen = () => {
      socket.send(
        JSON.stringify({ type: "connection_init", payload: { authorization: `Bearer ${token()}` } }),
      );
    };
    socket.onmessage = (event) => {
      const msg = JSON.parse(event.data);
      if (msg.type === "connection_ack") {
        delay = 500;
        socket.send(JSON.stringify({ id: "1", type: "subscribe", payload: { query, variables } }));
      } else if (msg.type === "next") {
        if (msg.payload.errors?.length) onError(new ApiError(msg.payload.errors));
        else onData(msg.payload.data);
      } else if (msg.type === "error") {
        onError(new ApiError(msg.payload));
      } else if (msg.type === "ping") {
        socket.send(JSON.stringify({ type: "pong" }));
      }
    };
    socket.onclose = () => {
      if (stopped) return;
      setTimeout(open, delay);
      delay = Math.min(delay * 2, 10000);
    };
  };
  open();
  return () => {
    stopped = true;
    if (socket && socket.readyState <= 1) socket.close();
  };
}
