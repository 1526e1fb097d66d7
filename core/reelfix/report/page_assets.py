"""The review page's inline style and script (kept apart from the markup that uses them).

The script: a before/after wipe per shot (drag the divider with mouse, pen or touch; arrow keys
move it), a thumbnail strip and the curves to pick the frame shown, and a matte overlay toggle.
Plain DOM, no libraries, nothing fetched."""

STYLE = """
:root{color-scheme:dark;--bg:#16181c;--fg:#e6e6e6;--dim:#9aa0a8;--line:#2c3038;--accent:#e0672b}
*{box-sizing:border-box}body{margin:0;background:var(--bg);color:var(--fg);font:14px/1.45 system-ui,sans-serif}
header,main{max-width:1320px;margin:0 auto;padding:12px 20px}h1{font-size:22px;margin:8px 0}h2{font-size:18px;margin:28px 0 8px}
h2 small,.note{color:var(--dim);font-weight:normal}nav a{color:var(--accent);margin-right:12px}
.figures{display:flex;flex-wrap:wrap;gap:10px;margin:8px 0}.fig{background:#1f2228;border:1px solid var(--line);border-radius:6px;padding:6px 12px;min-width:120px}
.fig b{display:block;font-size:18px}.fig>span{color:var(--dim);font-size:12px}
.wipe{position:relative;width:100%;max-width:1280px;overflow:hidden;background:#000;cursor:ew-resize;user-select:none;touch-action:none;--pos:50%}
.wipe img{position:absolute;inset:0;width:100%;height:100%;display:block;pointer-events:none}.wipe img[hidden]{display:none}
.after-clip{position:absolute;inset:0;clip-path:inset(0 0 0 var(--pos))}
.matte{mix-blend-mode:normal;opacity:.85}
.divider{position:absolute;top:0;bottom:0;left:var(--pos);width:2px;margin-left:-1px;background:#fff;box-shadow:0 0 3px #000}
.divider span{position:absolute;top:50%;left:-9px;width:20px;height:20px;margin-top:-10px;border-radius:50%;background:#fff}
.tag{position:absolute;top:8px;padding:1px 6px;background:rgba(0,0,0,.6);border-radius:3px;font-size:12px}.tag.l{left:8px}.tag.r{right:8px}
.controls{margin:6px 0;color:var(--dim)}.current{margin-left:16px;color:var(--fg)}
.strip{display:flex;gap:4px;overflow-x:auto;padding:6px 0}.thumb{flex:0 0 auto;background:none;border:2px solid transparent;padding:0;color:var(--dim);cursor:pointer}
.thumb img{display:block;height:54px;width:auto}.thumb span{font-size:11px}.thumb.on{border-color:var(--accent);color:var(--fg)}
.curves{display:flex;flex-wrap:wrap;gap:8px}.curve{margin:0}.curve figcaption{font-size:13px}.curve small{color:var(--dim)}
.key{margin-left:10px;font-size:12px;color:var(--dim)}.key i{display:inline-block;width:10px;height:3px;margin-right:4px;vertical-align:middle}
.chart{max-width:100%;height:auto;cursor:crosshair}.chart .plot{fill:#1b1e23;stroke:var(--line)}.chart .grid{stroke:var(--line)}
.chart .tick{fill:var(--dim);font-size:11px}.chart .mark{stroke:#d33;stroke-dasharray:2 2}.chart .cursor{stroke:#fff;stroke-opacity:.6}
table{border-collapse:collapse;margin:6px 0;width:100%}td,th{border-bottom:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top}
code{font-size:12px;word-break:break-all}dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px}dt{color:var(--dim)}dd{margin:0}
"""

SCRIPT = """
(function(){
'use strict';
var data=JSON.parse(document.getElementById('report-data').textContent);
function setPos(wipe,pct){
  pct=Math.max(0,Math.min(100,pct));
  wipe.style.setProperty('--pos',pct+'%');
  wipe.dataset.pos=pct.toFixed(2);
}
function shotOf(section){
  var i=Number(section.dataset.shot);
  for(var k=0;k<data.shots.length;k++){if(data.shots[k].index===i){return data.shots[k];}}
  return null;
}
function show(section,k){
  var shot=shotOf(section);if(!shot||!shot.previews[k]){return;}
  var p=shot.previews[k];
  section.querySelector('img.before').src=p.before;
  section.querySelector('img.after').src=p.after;
  var matte=section.querySelector('img.matte');
  if(p.matte){matte.src=p.matte;}else{matte.removeAttribute('src');}
  matte.hidden=!(p.matte&&section.querySelector('.matte-toggle').checked);
  section.querySelector('.current').textContent='frame '+p.frame;
  section.querySelectorAll('.thumb').forEach(function(t){t.classList.toggle('on',Number(t.dataset.i)===k);});
  section.querySelectorAll('svg.chart').forEach(function(svg){
    var x0=Number(svg.dataset.x0),x1=Number(svg.dataset.x1),left=Number(svg.dataset.left),w=Number(svg.dataset.width);
    var x=left+(p.frame-x0)/Math.max(1,x1-x0)*w,c=svg.querySelector('.cursor');
    c.setAttribute('x1',x);c.setAttribute('x2',x);
  });
  section.dataset.frame=p.frame;
}
function nearest(shot,frame){
  var best=0;
  shot.previews.forEach(function(p,k){if(Math.abs(p.frame-frame)<Math.abs(shot.previews[best].frame-frame)){best=k;}});
  return best;
}
document.querySelectorAll('section.shot').forEach(function(section){
  var wipe=section.querySelector('.wipe');
  if(wipe){
    var dragging=false;
    var at=function(ev){var r=wipe.getBoundingClientRect();setPos(wipe,(ev.clientX-r.left)/r.width*100);};
    wipe.addEventListener('pointerdown',function(ev){dragging=true;if(wipe.setPointerCapture){wipe.setPointerCapture(ev.pointerId);}at(ev);ev.preventDefault();});
    wipe.addEventListener('pointermove',function(ev){if(dragging){at(ev);}});
    wipe.addEventListener('pointerup',function(){dragging=false;});
    wipe.addEventListener('pointercancel',function(){dragging=false;});
    wipe.addEventListener('keydown',function(ev){
      var d=ev.key==='ArrowLeft'?-2:ev.key==='ArrowRight'?2:0;
      if(d){setPos(wipe,Number(wipe.dataset.pos)+d);ev.preventDefault();}
    });
    section.querySelector('.matte-toggle').addEventListener('change',function(ev){
      var m=section.querySelector('img.matte');m.hidden=!(ev.target.checked&&m.getAttribute('src'));
    });
    section.querySelectorAll('.thumb').forEach(function(t){t.addEventListener('click',function(){show(section,Number(t.dataset.i));});});
    section.querySelectorAll('svg.chart').forEach(function(svg){
      svg.addEventListener('click',function(ev){
        var r=svg.getBoundingClientRect(),scale=r.width/svg.viewBox.baseVal.width;
        var x=(ev.clientX-r.left)/scale,x0=Number(svg.dataset.x0),x1=Number(svg.dataset.x1);
        var frame=x0+(x-Number(svg.dataset.left))/Number(svg.dataset.width)*(x1-x0);
        var shot=shotOf(section);if(shot&&shot.previews.length){show(section,nearest(shot,frame));}
      });
    });
    show(section,0);
  }
});
document.body.dataset.ready='1';
})();
"""
