export function greeting(name) {
  return `Hello, ${name}!\n`;
}

export function stats(requests) {
  return { requests, time: new Date().toISOString() };
}
