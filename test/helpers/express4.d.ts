// Types for the `express4` alias (npm:express@4), used to test the middleware on Express 4:
// its API surface the tests use is the same as Express 5's.
declare module 'express4' {
  import express from 'express';
  export default express;
}
