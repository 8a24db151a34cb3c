// The guest suite's test order: jest's own, except that host-life.test.ts runs last, so
// that the guest reboots (in-guest.sh) right after it wrote its unsynced files.
const Sequencer = require('@jest/test-sequencer').default;

module.exports = class GuestSequencer extends Sequencer {
  async sort(tests) {
    const last = (t) => (/host-life\.test\.ts$/.test(t.path) ? 1 : 0);
    return [...(await super.sort(tests))].sort((a, b) => last(a) - last(b));
  }
};
