(function () {
  document.querySelectorAll('.chart[data-spec]').forEach(function (el) {
    var spec = JSON.parse(document.getElementById(el.dataset.spec).textContent);
    var options = {renderer: el.dataset.renderer, actions: false};
    vegaEmbed(el, spec, options).catch(function (err) {
      el.textContent = 'This chart could not be drawn: ' + err;
      console.error(err);
    });
  });
})();
