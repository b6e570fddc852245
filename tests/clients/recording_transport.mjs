// The SDK's own makeNodeTransport, wrapped only to tell `record(types, response, error)` of each
// envelope it sent: the envelope's item types, and the answer (or the error the send failed with).
// Shared by the Node drivers (node_sdk.mjs, node_backoff.mjs); pass it as Sentry.init's `transport`.

export function recordingTransport(Sentry, record) {
  return (options) => {
    const transport = Sentry.makeNodeTransport(options);
    return {
      ...transport,
      send: async (envelope) => {
        const types = envelope[1].map((item) => item[0].type);
        let response;
        try {
          response = await transport.send(envelope);
        } catch (error) {
          record(types, null, error);
          throw error;
        }
        record(types, response, null);
        return response;
      },
    };
  };
}
