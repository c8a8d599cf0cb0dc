// Shared by recorder.js and call.js: the Python side puts this file in front of each one's
// module (voicekit.widgets._base.esm), since an anywidget module cannot import a sibling file.
//
// On JupyterHub the page is the hub's: "open Jupyter at localhost" is advice a learner
// cannot follow, the hub must be served over https. JupyterHub's single-user server puts
// hubPrefix in the page config (jupyterhub/singleuser/extension.py), which JupyterLab and
// Notebook 7 keep in #jupyter-config-data.
function onJupyterHub() {
  try {
    const el = document.getElementById("jupyter-config-data");
    return Boolean(el && JSON.parse(el.textContent).hubPrefix);
  } catch (err) {
    return false;
  }
}

// The insecure-context advice on a hub; `offers` names what the browser withholds.
function hubInsecureContext(offers) {
  return "This page is not a secure context, so the browser offers no " + offers + " " +
    "(navigator.mediaDevices is undefined). On JupyterHub, the hub must be served over " +
    "https: ask whoever runs it (voicekit's README, \"A class on JupyterHub\", says how).";
}
