// The lookup page: asks /certs/{email}?format=json and shows what came back. Everything is
// put in the page with textContent, never as HTML.
"use strict";

(function () {
  const form = document.getElementById("lookup");
  const input = document.getElementById("email");
  const status = document.getElementById("status");
  const result = document.getElementById("result");

  function say(text, isError) {
    status.textContent = text;
    status.className = isError ? "error" : "";
  }

  function fingerprint(hex) {
    return hex.toUpperCase().match(/.{2}/g).join(":");
  }

  function row(dl, term, value, id) {
    const dt = document.createElement("dt");
    dt.textContent = term;
    const dd = document.createElement("dd");
    dd.textContent = value;
    if (id) dd.className = id;
    dl.append(dt, dd);
  }

  function show(address, doc) {
    const box = document.getElementById("certs");
    box.replaceChildren();
    for (const c of doc.certificates) {
      const div = document.createElement("div");
      div.className = "cert";
      const dl = document.createElement("dl");
      row(dl, "Subject", c.subject, "subject");
      row(dl, "SHA-256 fingerprint", fingerprint(c.sha256), "fingerprint");
      row(dl, "Valid until", new Date(c.notAfter).toUTCString(), "expiry");
      row(dl, "Serial", c.serial, "serial");
      div.append(dl);
      box.append(div);
    }
    const base = "/certs/" + encodeURIComponent(address);
    const cer = document.getElementById("cer");
    cer.href = base + "?format=der";
    cer.download = address + ".cer";
    const p7c = document.getElementById("p7c");
    p7c.href = base + "?format=p7c";
    p7c.download = address + ".p7c";
    document.getElementById("for").textContent = address;
    result.hidden = false;
  }

  async function lookup(address) {
    result.hidden = true;
    say("Looking up " + address + " …", false);
    let resp;
    try {
      resp = await fetch("/certs/" + encodeURIComponent(address) + "?format=json",
        { headers: { Accept: "application/json" } });
    } catch (e) {
      say("The lookup service cannot be reached.", true);
      return;
    }
    switch (resp.status) {
      case 200:
        show(address, await resp.json());
        say(address + ": certificate found.", false);
        return;
      case 404:
        say("No certificate is published for " + address + ". Check the address, or ask the recipient to get one.", true);
        return;
      case 400:
        say("That is not an e-mail address.", true);
        return;
      case 429:
        say("Too many lookups from your address; try again in " + (resp.headers.get("Retry-After") || "a few") + " seconds.", true);
        return;
      default:
        say("The lookup failed (HTTP " + resp.status + "). Try again later.", true);
    }
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    const address = input.value.trim();
    if (address) lookup(address);
  });

  // /#name@example.com looks the address up straight away, so a link can be shared.
  if (location.hash.length > 1) {
    try {
      input.value = decodeURIComponent(location.hash.slice(1));
      lookup(input.value.trim());
    } catch (e) {
      say("That is not an e-mail address.", true);
    }
  }
})();
