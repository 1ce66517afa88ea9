// Entry point: renders the app into the page the hub serves (ui/dist/index.html).
import { render } from 'preact';
import { App } from './app.js';
import './styles.css';

render(<App />, document.getElementById('app')!);
