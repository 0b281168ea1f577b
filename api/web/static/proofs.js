// Verify the claim's cited ledger entries in the browser, with WebCrypto only.
//
// For each entry (ledger/bundle.py's verify_bundle, step for step):
//   1. the checkpoint is a C2SP signed note with a valid Ed25519 signature by the log's
//      key from /v1/ledger/key (ledger/note.py: "<name>+<hash>+<base64(0x01||key)>");
//   2. the entry's tree size is the checkpoint's;
//   3. the record names its own index and hashes (RFC 9162 leaf: SHA-256(0x00||record)) to
//      the leaf hash the verdict cites;
//   4. the inclusion proof leads from that leaf to the checkpoint's root (RFC 9162 2.1.3.2).
//   5. (a pack's public page) what the page shows of the entry is what its record says:
//      each of the entry's "shown" fields equals the record's body.view field;
//   an entry whose record is withheld (record null: it holds fields that are not public)
//   gets steps 1, 2 and 4 for its cited leaf hash: it is in the log, its content unproven.
// window.freshproof.proofData is what is checked; window.freshproof.verifyProofs() checks
// it again (the "Verify again" button does the same); window.freshproof.verification is
// the first run's promise. proofData.texts, when given, words the results (a page's
// language); the failure reasons stay as written here.
"use strict";

(function () {
  const enc = new TextEncoder();

  function b64(text) {
    const bin = atob(text);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  function hex(bytes) {
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }
  function concat(...parts) {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) { out.set(p, at); at += p.length; }
    return out;
  }
  function equal(a, b) {
    return a.length === b.length && a.every((x, i) => x === b[i]);
  }
  async function sha256(bytes) {
    return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  }
  const leafHash = (record) => sha256(concat(new Uint8Array([0]), enc.encode(record)));
  const nodeHash = (l, r) => sha256(concat(new Uint8Array([1]), l, r));

  class Failure extends Error {}

  // ------------------------------------------------------------------ the signed note
  async function parseKey(text) {
    // The base64 key may itself hold "+": split at the first two only, as ledger/note.py does.
    const line = text.trim();
    const a = line.indexOf("+"), b = line.indexOf("+", a + 1);
    const name = line.slice(0, a), hashHex = line.slice(a + 1, b), key64 = line.slice(b + 1);
    if (a <= 0 || b < 0 || !/^[0-9a-f]{8}$/.test(hashHex) || !key64) {
      throw new Failure("the log's key is not <name>+<hash>+<key>");
    }
    const key = b64(key64);
    if (key.length !== 33 || key[0] !== 1) throw new Failure("the log's key is not Ed25519");
    const digest = await sha256(concat(enc.encode(name + "\n"), key));
    if (hex(digest.slice(0, 4)) !== hashHex) throw new Failure("the log's key hash does not match the key");
    const cryptoKey = await crypto.subtle.importKey(
      "raw", key.slice(1), { name: "Ed25519" }, false, ["verify"]);
    return { name, hash: digest.slice(0, 4), cryptoKey };
  }

  async function openCheckpoint(note, key) {
    const cut = note.lastIndexOf("\n\n");
    if (cut < 0) throw new Failure("the checkpoint has no signature block");
    const text = note.slice(0, cut + 1);
    const block = note.slice(cut + 2);
    if (!block.endsWith("\n")) throw new Failure("the checkpoint's signatures are cut short");
    const mine = [];
    for (const line of block.slice(0, -1).split("\n")) {
      if (!line.startsWith("\u2014 ")) throw new Failure("a signature line lacks its em dash");
      const [name, sig64] = line.slice(2).split(" ");
      const blob = b64(sig64 || "");
      if (name === key.name && equal(blob.slice(0, 4), key.hash)) mine.push(blob.slice(4));
    }
    if (!mine.length) throw new Failure("the checkpoint carries no signature by the log's key");
    for (const sig of mine) {
      const ok = await crypto.subtle.verify({ name: "Ed25519" }, key.cryptoKey, sig, enc.encode(text));
      if (!ok) throw new Failure("the checkpoint's signature does not verify");
    }
    const lines = text.split("\n");
    if (lines.length < 4 || !/^(0|[1-9][0-9]*)$/.test(lines[1])) {
      throw new Failure("the checkpoint body is not origin, size, root");
    }
    const root = b64(lines[2]);
    if (root.length !== 32) throw new Failure("the checkpoint root is not 32 bytes");
    return { origin: lines[0], size: Number(lines[1]), root };
  }

  // ------------------------------------------------------------------ inclusion
  async function verifyInclusion(index, size, leaf, proof, root) {
    if (!(index >= 0 && index < size)) throw new Failure(`index ${index} is outside a tree of ${size}`);
    let fn = index, sn = size - 1, r = leaf;
    for (const p of proof) {
      if (p.length !== 32) throw new Failure("a proof hash is not 32 bytes");
      if (sn === 0) throw new Failure("the inclusion proof is too long");
      if (fn % 2 === 1 || fn === sn) {
        r = await nodeHash(p, r);
        while (fn !== 0 && fn % 2 === 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
      } else {
        r = await nodeHash(r, p);
      }
      fn = Math.floor(fn / 2); sn = Math.floor(sn / 2);
    }
    if (sn !== 0) throw new Failure("the inclusion proof is too short");
    if (!equal(r, root)) throw new Failure("the inclusion proof does not lead to the signed root");
  }

  function sameJSON(a, b) {
    if (a === b) return true;
    if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
    if (Array.isArray(a) !== Array.isArray(b)) return false;
    const ka = Object.keys(a), kb = Object.keys(b);
    return ka.length === kb.length && ka.every((k) => Object.hasOwn(b, k) && sameJSON(a[k], b[k]));
  }
  function unhex(text) {
    if (!/^([0-9a-f]{2})*$/.test(text || "")) throw new Failure("the cited leaf hash is not hex");
    return new Uint8Array(text.match(/../g).map((h) => parseInt(h, 16)));
  }

  async function verifyEntry(entry, checkpoint) {
    if (entry.tree_size !== checkpoint.size) {
      throw new Failure(`proof for tree size ${entry.tree_size}, checkpoint signs ${checkpoint.size}`);
    }
    if (entry.record === null) {
      let proof;
      try { proof = entry.inclusion_proof.map(b64); } catch (e) { throw new Failure("a proof hash is not base64"); }
      await verifyInclusion(entry.index, entry.tree_size, unhex(entry.cited_leaf_hash), proof, checkpoint.root);
      return "leaf_only";
    }
    let record;
    try { record = JSON.parse(entry.record); } catch (e) { throw new Failure("the record is not JSON"); }
    if (record.index !== entry.index) throw new Failure("the record names another index");
    const leaf = await leafHash(entry.record);
    if (hex(leaf) !== entry.cited_leaf_hash) throw new Failure("the record does not hash to the cited leaf hash");
    let proof;
    try { proof = entry.inclusion_proof.map(b64); } catch (e) { throw new Failure("a proof hash is not base64"); }
    await verifyInclusion(entry.index, entry.tree_size, leaf, proof, checkpoint.root);
    const view = (record.body && record.body.view) || {};
    for (const [field, value] of Object.entries(entry.shown || {})) {
      if (!sameJSON(view[field], value)) throw new Failure(`the page's ${field} is not the record's`);
    }
    return "verified";
  }

  // ------------------------------------------------------------------ the page
  function show(index, ok, text, result) {
    for (const el of document.querySelectorAll(`.proof[data-proof-index="${index}"]`)) {
      el.textContent = text;
      el.dataset.result = result || (ok ? "verified" : "failed");
      el.classList.toggle("ok", ok);
      el.classList.toggle("failed", !ok);
    }
  }
  function reason(e) {
    return e instanceof Failure ? e.message : `could not check (${e && e.message ? e.message : e})`;
  }

  let keyText = null;
  const WORDS = {
    checking: "checking…",
    verified: "verified",
    leaf_only: "verified (leaf only)",
    failed: "FAILED",
    checkpoint: "verified: {origin}, tree size {size}, signed by {name}",
    summary: "{good} of {total} entries verified.",
  };
  function word(key, values) {
    const texts = (window.freshproof.proofData || {}).texts || {};
    return (texts[key] || WORDS[key]).replace(/\{(\w+)\}/g, (m, k) => (k in (values || {}) ? values[k] : m));
  }

  async function verifyProofs() {
    const data = window.freshproof.proofData;
    const status = document.getElementById("checkpoint-status");
    const summary = document.getElementById("proof-summary");
    const overall = document.getElementById("proof-overall");
    for (const e of data.entries) show(e.index, false, word("checking"));
    status.textContent = word("checking");
    status.classList.remove("ok", "failed");
    let checkpoint = null, failure = null;
    try {
      if (!window.crypto || !crypto.subtle) {
        throw new Failure("this page is not a secure context (HTTPS or localhost): no WebCrypto");
      }
      if (keyText === null) {
        const resp = await fetch(data.key_url, { credentials: "omit" });
        if (!resp.ok) throw new Failure(`the log's key could not be fetched (${resp.status})`);
        keyText = await resp.text();
      }
      const key = await parseKey(keyText);
      checkpoint = await openCheckpoint(data.checkpoint, key);
      status.textContent = word("checkpoint", { origin: checkpoint.origin, size: checkpoint.size, name: key.name });
      status.classList.add("ok");
    } catch (e) {
      failure = word("failed") + ": " + reason(e);
      status.textContent = failure;
      status.classList.add("failed");
    }
    let good = 0;
    // Entries sharing an index show the worst result: a failure is never overwritten.
    const failed = new Set();
    for (const entry of data.entries) {
      if (failed.has(entry.index)) continue;
      if (failure) { show(entry.index, false, failure); failed.add(entry.index); continue; }
      try {
        const result = await verifyEntry(entry, checkpoint);
        show(entry.index, true, word(result), result);
        good += 1;
      } catch (e) {
        show(entry.index, false, word("failed") + ": " + reason(e));
        failed.add(entry.index);
      }
    }
    summary.textContent = word("summary", { good, total: data.entries.length });
    if (overall) {
      overall.textContent = summary.textContent;
      overall.classList.toggle("ok", !failure && good === data.entries.length);
      overall.classList.toggle("failed", Boolean(failure) || good !== data.entries.length);
    }
    return { verified: good, failed: data.entries.length - good };
  }

  window.freshproof = window.freshproof || {};
  window.freshproof.verifyProofs = verifyProofs;

  document.addEventListener("DOMContentLoaded", () => {
    const holder = document.getElementById("proof-data");
    if (!holder) return;
    window.freshproof.proofData = JSON.parse(holder.textContent);
    document.getElementById("verify-again").addEventListener("click", verifyProofs);
    window.freshproof.verification = verifyProofs();
  });
})();
