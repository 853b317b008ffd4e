// xhr2 ships no types; the tests only install it as the global XMLHttpRequest
// that Google's grpc-web client expects.
declare module "xhr2" {
  const XMLHttpRequest: new () => unknown;
  export default XMLHttpRequest;
}
