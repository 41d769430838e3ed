(function () {
  var root = document.getElementById('explorer');
  if (!root) { return; }
  function q(id) { return document.getElementById(id); }
  function apply() {
    var scenario = q('xp-scenario').value, dim = q('xp-dimension').value;
    var least = parseFloat(q('xp-disagree').value) || 0, repeats = q('xp-repeat').checked;
    var cells = {};
    root.querySelectorAll('.xp-cellbox').forEach(function (b) { cells[b.value] = b.checked; });
    var shown = 0;
    root.querySelectorAll('.xp-scenario').forEach(function (block) {
      var any = false;
      var inScenario = !scenario || block.dataset.scenario === scenario;
      block.querySelectorAll('.xp-cell').forEach(function (col) {
        var colAny = false;
        col.querySelectorAll('.xp-tip').forEach(function (tip) {
          var ok = inScenario && cells[col.dataset.cell] &&
            parseFloat(tip.dataset.disagree) >= least &&
            (!repeats || tip.dataset.repeat === '1') &&
            (!dim || tip.dataset.low.split(' ').indexOf(dim) >= 0);
          tip.hidden = !ok; if (ok) { colAny = true; shown += 1; }
        });
        col.hidden = !colAny; any = any || colAny;
      });
      block.hidden = !any;
    });
    q('xp-count').textContent = shown + ' tip' + (shown === 1 ? '' : 's') + ' shown';
  }
  root.querySelectorAll('select, input').forEach(function (el) {
    el.addEventListener('change', apply); el.addEventListener('input', apply);
  });
  apply();
})();
