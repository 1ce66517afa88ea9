// A logic analyser on the simulated GPIO header, loaded into the hub process by the relay-restart scenario
// (NODE_OPTIONS=--import=<this file>): every output line the hub creates (with the level it starts at) and
// every level it writes is appended, synchronously, to GATEHOUSE_FAULTS_RELAY_LOG, so a line survives a
// kill -9 of the hub. It only watches: the hub's own code and the emulator run unchanged.
import { appendFileSync } from 'node:fs';
import { SimOutput } from '../adapters/sim/gpio.js';
import { SimLineBoard } from '../adapters/sim/lines.js';

const file = process.env.GATEHOUSE_FAULTS_RELAY_LOG;

function record(entry: Record<string, unknown>): void {
  appendFileSync(file!, `${JSON.stringify({ t: Date.now(), pid: process.pid, ...entry })}\n`);
}

if (file) {
  const output = SimLineBoard.prototype.output;
  SimLineBoard.prototype.output = async function (this: SimLineBoard, bcm, initial, label) {
    const line = await output.call(this, bcm, initial, label);
    record({ ev: 'create', bcm, label, level: initial });
    return line;
  };
  const write = SimOutput.prototype.write;
  SimOutput.prototype.write = async function (this: SimOutput, on: boolean) {
    record({ ev: 'write', label: this.name, level: on ? 1 : 0 });
    return write.call(this, on);
  };
  process.on('exit', () => record({ ev: 'exit' }));
}
