// A real SMTP server for the test run (smtp-server and mailparser, both from
// the nodemailer project). It listens on a loopback port, accepts every
// message and writes it, parsed, as one JSON file per message into --dir:
//
//   node tests/smtp/sink.mjs --dir <dir> [--port <n>] [--user <u> --pass <p>]
//
// Prints one line `{"port": <n>}` on stdout once it listens. With --user and
// --pass it advertises AUTH (PLAIN, LOGIN over the plain connection) and
// refuses mail from a client that did not log in with exactly those; without
// them it offers no AUTH. Each file `<seq>.json` holds
// { seq, envelope: { from, to }, from, to, subject, text, html, authUser },
// written to a temporary name and renamed, so a reader never sees half a
// message. Stops on SIGTERM/SIGINT or when stdin closes.
import fs from 'node:fs';
import path from 'node:path';
import { SMTPServer } from 'smtp-server';
import { simpleParser } from 'mailparser';

function args(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i];
    if (!key.startsWith('--') || i + 1 >= argv.length) {
      throw new Error(`usage: sink.mjs --dir <dir> [--port <n>] [--user <u> --pass <p>] (bad: ${key})`);
    }
    out[key.slice(2)] = argv[i + 1];
  }
  return out;
}

const opts = args(process.argv.slice(2));
if (!opts.dir) throw new Error('sink.mjs: --dir is required');
if (Boolean(opts.user) !== Boolean(opts.pass)) throw new Error('sink.mjs: --user and --pass go together');
fs.mkdirSync(opts.dir, { recursive: true });

let seq = 0;
const withAuth = Boolean(opts.user);

const server = new SMTPServer({
  secure: false,
  disabledCommands: withAuth ? ['STARTTLS'] : ['STARTTLS', 'AUTH'],
  authOptional: !withAuth,
  allowInsecureAuth: true,
  authMethods: ['PLAIN', 'LOGIN'],
  logger: false,
  size: 1024 * 1024,
  onAuth(auth, _session, callback) {
    if (auth.username === opts.user && auth.password === opts.pass) {
      callback(null, { user: auth.username });
    } else {
      callback(Object.assign(new Error('Invalid username or password'), { responseCode: 535 }));
    }
  },
  onData(stream, session, callback) {
    simpleParser(stream)
      .then((mail) => {
        seq += 1;
        const record = {
          seq,
          envelope: {
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : null,
            to: session.envelope.rcptTo.map((r) => r.address),
          },
          from: mail.from ? mail.from.text : null,
          to: mail.to ? [].concat(mail.to).map((t) => t.text) : [],
          subject: mail.subject ?? null,
          text: mail.text ?? null,
          html: typeof mail.html === 'string' ? mail.html : null,
          authUser: session.user ?? null,
        };
        const name = `${String(seq).padStart(6, '0')}.json`;
        const tmp = path.join(opts.dir, `.${name}.tmp`);
        fs.writeFileSync(tmp, JSON.stringify(record, null, 2));
        fs.renameSync(tmp, path.join(opts.dir, name));
        callback();
      })
      .catch((err) => callback(err));
  },
});

server.on('error', (err) => {
  process.stderr.write(`smtp sink: ${err.stack ?? err}\n`);
});

const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdin.on('end', stop);
process.stdin.resume();

server.listen(Number(opts.port ?? 0), '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: server.server.address().port })}\n`);
});
