var B=globalThis,j=B.ShadowRoot&&(B.ShadyCSS===void 0||B.ShadyCSS.nativeShadow)&&"adoptedStyleSheets"in Document.prototype&&"replace"in CSSStyleSheet.prototype,J=Symbol(),dt=new WeakMap,k=class{constructor(t,e,s){if(this._$cssResult$=!0,s!==J)throw Error("CSSResult is not constructable. Use `unsafeCSS` or `css` instead.");this.cssText=t,this.t=e}get styleSheet(){let t=this.o,e=this.t;if(j&&t===void 0){let s=e!==void 0&&e.length===1;s&&(t=dt.get(e)),t===void 0&&((this.o=t=new CSSStyleSheet).replaceSync(this.cssText),s&&dt.set(e,t))}return t}toString(){return this.cssText}},ut=n=>new k(typeof n=="string"?n:n+"",void 0,J),Z=(n,...t)=>{let e=n.length===1?n[0]:t.reduce((s,i,r)=>s+(o=>{if(o._$cssResult$===!0)return o.cssText;if(typeof o=="number")return o;throw Error("Value passed to 'css' function must be a 'css' function result: "+o+". Use 'unsafeCSS' to pass non-literal values, but take care to ensure page security.")})(i)+n[r+1],n[0]);return new k(e,n,J)},pt=(n,t)=>{if(j)n.adoptedStyleSheets=t.map(e=>e instanceof CSSStyleSheet?e:e.styleSheet);else for(let e of t){let s=document.createElement("style"),i=B.litNonce;i!==void 0&&s.setAttribute("nonce",i),s.textContent=e.cssText,n.appendChild(s)}},Q=j?n=>n:n=>n instanceof CSSStyleSheet?(t=>{let e="";for(let s of t.cssRules)e+=s.cssText;return ut(e)})(n):n;var{is:Ot,defineProperty:Lt,getOwnPropertyDescriptor:Vt,getOwnPropertyNames:Dt,getOwnPropertySymbols:It,getPrototypeOf:Bt}=Object,z=globalThis,mt=z.trustedTypes,jt=mt?mt.emptyScript:"",zt=z.reactiveElementPolyfillSupport,R=(n,t)=>n,Y={toAttribute(n,t){switch(t){case Boolean:n=n?jt:null;break;case Object:case Array:n=n==null?n:JSON.stringify(n)}return n},fromAttribute(n,t){let e=n;switch(t){case Boolean:e=n!==null;break;case Number:e=n===null?null:Number(n);break;case Object:case Array:try{e=JSON.parse(n)}catch{e=null}}return e}},_t=(n,t)=>!Ot(n,t),ft={attribute:!0,type:String,converter:Y,reflect:!1,useDefault:!1,hasChanged:_t};Symbol.metadata??=Symbol("metadata"),z.litPropertyMetadata??=new WeakMap;var b=class extends HTMLElement{static addInitializer(t){this._$Ei(),(this.l??=[]).push(t)}static get observedAttributes(){return this.finalize(),this._$Eh&&[...this._$Eh.keys()]}static createProperty(t,e=ft){if(e.state&&(e.attribute=!1),this._$Ei(),this.prototype.hasOwnProperty(t)&&((e=Object.create(e)).wrapped=!0),this.elementProperties.set(t,e),!e.noAccessor){let s=Symbol(),i=this.getPropertyDescriptor(t,s,e);i!==void 0&&Lt(this.prototype,t,i)}}static getPropertyDescriptor(t,e,s){let{get:i,set:r}=Vt(this.prototype,t)??{get(){return this[e]},set(o){this[e]=o}};return{get:i,set(o){let d=i?.call(this);r?.call(this,o),this.requestUpdate(t,d,s)},configurable:!0,enumerable:!0}}static getPropertyOptions(t){return this.elementProperties.get(t)??ft}static _$Ei(){if(this.hasOwnProperty(R("elementProperties")))return;let t=Bt(this);t.finalize(),t.l!==void 0&&(this.l=[...t.l]),this.elementProperties=new Map(t.elementProperties)}static finalize(){if(this.hasOwnProperty(R("finalized")))return;if(this.finalized=!0,this._$Ei(),this.hasOwnProperty(R("properties"))){let e=this.properties,s=[...Dt(e),...It(e)];for(let i of s)this.createProperty(i,e[i])}let t=this[Symbol.metadata];if(t!==null){let e=litPropertyMetadata.get(t);if(e!==void 0)for(let[s,i]of e)this.elementProperties.set(s,i)}this._$Eh=new Map;for(let[e,s]of this.elementProperties){let i=this._$Eu(e,s);i!==void 0&&this._$Eh.set(i,e)}this.elementStyles=this.finalizeStyles(this.styles)}static finalizeStyles(t){let e=[];if(Array.isArray(t)){let s=new Set(t.flat(1/0).reverse());for(let i of s)e.unshift(Q(i))}else t!==void 0&&e.push(Q(t));return e}static _$Eu(t,e){let s=e.attribute;return s===!1?void 0:typeof s=="string"?s:typeof t=="string"?t.toLowerCase():void 0}constructor(){super(),this._$Ep=void 0,this.isUpdatePending=!1,this.hasUpdated=!1,this._$Em=null,this._$Ev()}_$Ev(){this._$ES=new Promise(t=>this.enableUpdating=t),this._$AL=new Map,this._$E_(),this.requestUpdate(),this.constructor.l?.forEach(t=>t(this))}addController(t){(this._$EO??=new Set).add(t),this.renderRoot!==void 0&&this.isConnected&&t.hostConnected?.()}removeController(t){this._$EO?.delete(t)}_$E_(){let t=new Map,e=this.constructor.elementProperties;for(let s of e.keys())this.hasOwnProperty(s)&&(t.set(s,this[s]),delete this[s]);t.size>0&&(this._$Ep=t)}createRenderRoot(){let t=this.shadowRoot??this.attachShadow(this.constructor.shadowRootOptions);return pt(t,this.constructor.elementStyles),t}connectedCallback(){this.renderRoot??=this.createRenderRoot(),this.enableUpdating(!0),this._$EO?.forEach(t=>t.hostConnected?.())}enableUpdating(t){}disconnectedCallback(){this._$EO?.forEach(t=>t.hostDisconnected?.())}attributeChangedCallback(t,e,s){this._$AK(t,s)}_$ET(t,e){let s=this.constructor.elementProperties.get(t),i=this.constructor._$Eu(t,s);if(i!==void 0&&s.reflect===!0){let r=(s.converter?.toAttribute!==void 0?s.converter:Y).toAttribute(e,s.type);this._$Em=t,r==null?this.removeAttribute(i):this.setAttribute(i,r),this._$Em=null}}_$AK(t,e){let s=this.constructor,i=s._$Eh.get(t);if(i!==void 0&&this._$Em!==i){let r=s.getPropertyOptions(i),o=typeof r.converter=="function"?{fromAttribute:r.converter}:r.converter?.fromAttribute!==void 0?r.converter:Y;this._$Em=i;let d=o.fromAttribute(e,r.type);this[i]=d??this._$Ej?.get(i)??d,this._$Em=null}}requestUpdate(t,e,s,i=!1,r){if(t!==void 0){let o=this.constructor;if(i===!1&&(r=this[t]),s??=o.getPropertyOptions(t),!((s.hasChanged??_t)(r,e)||s.useDefault&&s.reflect&&r===this._$Ej?.get(t)&&!this.hasAttribute(o._$Eu(t,s))))return;this.C(t,e,s)}this.isUpdatePending===!1&&(this._$ES=this._$EP())}C(t,e,{useDefault:s,reflect:i,wrapped:r},o){s&&!(this._$Ej??=new Map).has(t)&&(this._$Ej.set(t,o??e??this[t]),r!==!0||o!==void 0)||(this._$AL.has(t)||(this.hasUpdated||s||(e=void 0),this._$AL.set(t,e)),i===!0&&this._$Em!==t&&(this._$Eq??=new Set).add(t))}async _$EP(){this.isUpdatePending=!0;try{await this._$ES}catch(e){Promise.reject(e)}let t=this.scheduleUpdate();return t!=null&&await t,!this.isUpdatePending}scheduleUpdate(){return this.performUpdate()}performUpdate(){if(!this.isUpdatePending)return;if(!this.hasUpdated){if(this.renderRoot??=this.createRenderRoot(),this._$Ep){for(let[i,r]of this._$Ep)this[i]=r;this._$Ep=void 0}let s=this.constructor.elementProperties;if(s.size>0)for(let[i,r]of s){let{wrapped:o}=r,d=this[i];o!==!0||this._$AL.has(i)||d===void 0||this.C(i,void 0,r,d)}}let t=!1,e=this._$AL;try{t=this.shouldUpdate(e),t?(this.willUpdate(e),this._$EO?.forEach(s=>s.hostUpdate?.()),this.update(e)):this._$EM()}catch(s){throw t=!1,this._$EM(),s}t&&this._$AE(e)}willUpdate(t){}_$AE(t){this._$EO?.forEach(e=>e.hostUpdated?.()),this.hasUpdated||(this.hasUpdated=!0,this.firstUpdated(t)),this.updated(t)}_$EM(){this._$AL=new Map,this.isUpdatePending=!1}get updateComplete(){return this.getUpdateComplete()}getUpdateComplete(){return this._$ES}shouldUpdate(t){return!0}update(t){this._$Eq&&=this._$Eq.forEach(e=>this._$ET(e,this[e])),this._$EM()}updated(t){}firstUpdated(t){}};b.elementStyles=[],b.shadowRootOptions={mode:"open"},b[R("elementProperties")]=new Map,b[R("finalized")]=new Map,zt?.({ReactiveElement:b}),(z.reactiveElementVersions??=[]).push("2.1.2");var ot=globalThis,vt=n=>n,F=ot.trustedTypes,gt=F?F.createPolicy("lit-html",{createHTML:n=>n}):void 0,Et="$lit$",y=`lit$${Math.random().toFixed(9).slice(2)}$`,wt="?"+y,Ft=`<${wt}>`,w=document,H=()=>w.createComment(""),T=n=>n===null||typeof n!="object"&&typeof n!="function",at=Array.isArray,Wt=n=>at(n)||typeof n?.[Symbol.iterator]=="function",tt=`[ 	
\f\r]`,U=/<(?:(!--|\/[^a-zA-Z])|(\/?[a-zA-Z][^>\s]*)|(\/?$))/g,$t=/-->/g,bt=/>/g,x=RegExp(`>|${tt}(?:([^\\s"'>=/]+)(${tt}*=${tt}*(?:[^ 	
\f\r"'\`<>=]|("|')|))|$)`,"g"),yt=/'/g,At=/"/g,Ct=/^(?:script|style|textarea|title)$/i,lt=n=>(t,...e)=>({_$litType$:n,strings:t,values:e}),A=lt(1),oe=lt(2),ae=lt(3),C=Symbol.for("lit-noChange"),h=Symbol.for("lit-nothing"),xt=new WeakMap,E=w.createTreeWalker(w,129);function St(n,t){if(!at(n)||!n.hasOwnProperty("raw"))throw Error("invalid template strings array");return gt!==void 0?gt.createHTML(t):t}var qt=(n,t)=>{let e=n.length-1,s=[],i,r=t===2?"<svg>":t===3?"<math>":"",o=U;for(let d=0;d<e;d++){let a=n[d],u,p,l=-1,m=0;for(;m<a.length&&(o.lastIndex=m,p=o.exec(a),p!==null);)m=o.lastIndex,o===U?p[1]==="!--"?o=$t:p[1]!==void 0?o=bt:p[2]!==void 0?(Ct.test(p[2])&&(i=RegExp("</"+p[2],"g")),o=x):p[3]!==void 0&&(o=x):o===x?p[0]===">"?(o=i??U,l=-1):p[1]===void 0?l=-2:(l=o.lastIndex-p[2].length,u=p[1],o=p[3]===void 0?x:p[3]==='"'?At:yt):o===At||o===yt?o=x:o===$t||o===bt?o=U:(o=x,i=void 0);let f=o===x&&n[d+1].startsWith("/>")?" ":"";r+=o===U?a+Ft:l>=0?(s.push(u),a.slice(0,l)+Et+a.slice(l)+y+f):a+y+(l===-2?d:f)}return[St(n,r+(n[e]||"<?>")+(t===2?"</svg>":t===3?"</math>":"")),s]},N=class n{constructor({strings:t,_$litType$:e},s){let i;this.parts=[];let r=0,o=0,d=t.length-1,a=this.parts,[u,p]=qt(t,e);if(this.el=n.createElement(u,s),E.currentNode=this.el.content,e===2||e===3){let l=this.el.content.firstChild;l.replaceWith(...l.childNodes)}for(;(i=E.nextNode())!==null&&a.length<d;){if(i.nodeType===1){if(i.hasAttributes())for(let l of i.getAttributeNames())if(l.endsWith(Et)){let m=p[o++],f=i.getAttribute(l).split(y),v=/([.?@])?(.*)/.exec(m);a.push({type:1,index:r,name:v[2],strings:f,ctor:v[1]==="."?st:v[1]==="?"?nt:v[1]==="@"?it:P}),i.removeAttribute(l)}else l.startsWith(y)&&(a.push({type:6,index:r}),i.removeAttribute(l));if(Ct.test(i.tagName)){let l=i.textContent.split(y),m=l.length-1;if(m>0){i.textContent=F?F.emptyScript:"";for(let f=0;f<m;f++)i.append(l[f],H()),E.nextNode(),a.push({type:2,index:++r});i.append(l[m],H())}}}else if(i.nodeType===8)if(i.data===wt)a.push({type:2,index:r});else{let l=-1;for(;(l=i.data.indexOf(y,l+1))!==-1;)a.push({type:7,index:r}),l+=y.length-1}r++}}static createElement(t,e){let s=w.createElement("template");return s.innerHTML=t,s}};function M(n,t,e=n,s){if(t===C)return t;let i=s!==void 0?e._$Co?.[s]:e._$Cl,r=T(t)?void 0:t._$litDirective$;return i?.constructor!==r&&(i?._$AO?.(!1),r===void 0?i=void 0:(i=new r(n),i._$AT(n,e,s)),s!==void 0?(e._$Co??=[])[s]=i:e._$Cl=i),i!==void 0&&(t=M(n,i._$AS(n,t.values),i,s)),t}var et=class{constructor(t,e){this._$AV=[],this._$AN=void 0,this._$AD=t,this._$AM=e}get parentNode(){return this._$AM.parentNode}get _$AU(){return this._$AM._$AU}u(t){let{el:{content:e},parts:s}=this._$AD,i=(t?.creationScope??w).importNode(e,!0);E.currentNode=i;let r=E.nextNode(),o=0,d=0,a=s[0];for(;a!==void 0;){if(o===a.index){let u;a.type===2?u=new O(r,r.nextSibling,this,t):a.type===1?u=new a.ctor(r,a.name,a.strings,this,t):a.type===6&&(u=new rt(r,this,t)),this._$AV.push(u),a=s[++d]}o!==a?.index&&(r=E.nextNode(),o++)}return E.currentNode=w,i}p(t){let e=0;for(let s of this._$AV)s!==void 0&&(s.strings!==void 0?(s._$AI(t,s,e),e+=s.strings.length-2):s._$AI(t[e])),e++}},O=class n{get _$AU(){return this._$AM?._$AU??this._$Cv}constructor(t,e,s,i){this.type=2,this._$AH=h,this._$AN=void 0,this._$AA=t,this._$AB=e,this._$AM=s,this.options=i,this._$Cv=i?.isConnected??!0}get parentNode(){let t=this._$AA.parentNode,e=this._$AM;return e!==void 0&&t?.nodeType===11&&(t=e.parentNode),t}get startNode(){return this._$AA}get endNode(){return this._$AB}_$AI(t,e=this){t=M(this,t,e),T(t)?t===h||t==null||t===""?(this._$AH!==h&&this._$AR(),this._$AH=h):t!==this._$AH&&t!==C&&this._(t):t._$litType$!==void 0?this.$(t):t.nodeType!==void 0?this.T(t):Wt(t)?this.k(t):this._(t)}O(t){return this._$AA.parentNode.insertBefore(t,this._$AB)}T(t){this._$AH!==t&&(this._$AR(),this._$AH=this.O(t))}_(t){this._$AH!==h&&T(this._$AH)?this._$AA.nextSibling.data=t:this.T(w.createTextNode(t)),this._$AH=t}$(t){let{values:e,_$litType$:s}=t,i=typeof s=="number"?this._$AC(t):(s.el===void 0&&(s.el=N.createElement(St(s.h,s.h[0]),this.options)),s);if(this._$AH?._$AD===i)this._$AH.p(e);else{let r=new et(i,this),o=r.u(this.options);r.p(e),this.T(o),this._$AH=r}}_$AC(t){let e=xt.get(t.strings);return e===void 0&&xt.set(t.strings,e=new N(t)),e}k(t){at(this._$AH)||(this._$AH=[],this._$AR());let e=this._$AH,s,i=0;for(let r of t)i===e.length?e.push(s=new n(this.O(H()),this.O(H()),this,this.options)):s=e[i],s._$AI(r),i++;i<e.length&&(this._$AR(s&&s._$AB.nextSibling,i),e.length=i)}_$AR(t=this._$AA.nextSibling,e){for(this._$AP?.(!1,!0,e);t!==this._$AB;){let s=vt(t).nextSibling;vt(t).remove(),t=s}}setConnected(t){this._$AM===void 0&&(this._$Cv=t,this._$AP?.(t))}},P=class{get tagName(){return this.element.tagName}get _$AU(){return this._$AM._$AU}constructor(t,e,s,i,r){this.type=1,this._$AH=h,this._$AN=void 0,this.element=t,this.name=e,this._$AM=i,this.options=r,s.length>2||s[0]!==""||s[1]!==""?(this._$AH=Array(s.length-1).fill(new String),this.strings=s):this._$AH=h}_$AI(t,e=this,s,i){let r=this.strings,o=!1;if(r===void 0)t=M(this,t,e,0),o=!T(t)||t!==this._$AH&&t!==C,o&&(this._$AH=t);else{let d=t,a,u;for(t=r[0],a=0;a<r.length-1;a++)u=M(this,d[s+a],e,a),u===C&&(u=this._$AH[a]),o||=!T(u)||u!==this._$AH[a],u===h?t=h:t!==h&&(t+=(u??"")+r[a+1]),this._$AH[a]=u}o&&!i&&this.j(t)}j(t){t===h?this.element.removeAttribute(this.name):this.element.setAttribute(this.name,t??"")}},st=class extends P{constructor(){super(...arguments),this.type=3}j(t){this.element[this.name]=t===h?void 0:t}},nt=class extends P{constructor(){super(...arguments),this.type=4}j(t){this.element.toggleAttribute(this.name,!!t&&t!==h)}},it=class extends P{constructor(t,e,s,i,r){super(t,e,s,i,r),this.type=5}_$AI(t,e=this){if((t=M(this,t,e,0)??h)===C)return;let s=this._$AH,i=t===h&&s!==h||t.capture!==s.capture||t.once!==s.once||t.passive!==s.passive,r=t!==h&&(s===h||i);i&&this.element.removeEventListener(this.name,this,s),r&&this.element.addEventListener(this.name,this,t),this._$AH=t}handleEvent(t){typeof this._$AH=="function"?this._$AH.call(this.options?.host??this.element,t):this._$AH.handleEvent(t)}},rt=class{constructor(t,e,s){this.element=t,this.type=6,this._$AN=void 0,this._$AM=e,this.options=s}get _$AU(){return this._$AM._$AU}_$AI(t){M(this,t)}};var Kt=ot.litHtmlPolyfillSupport;Kt?.(N,O),(ot.litHtmlVersions??=[]).push("3.3.3");var Mt=(n,t,e)=>{let s=e?.renderBefore??t,i=s._$litPart$;if(i===void 0){let r=e?.renderBefore??null;s._$litPart$=i=new O(t.insertBefore(H(),r),r,void 0,e??{})}return i._$AI(n),i};var ct=globalThis,g=class extends b{constructor(){super(...arguments),this.renderOptions={host:this},this._$Do=void 0}createRenderRoot(){let t=super.createRenderRoot();return this.renderOptions.renderBefore??=t.firstChild,t}update(t){let e=this.render();this.hasUpdated||(this.renderOptions.isConnected=this.isConnected),super.update(t),this._$Do=Mt(e,this.renderRoot,this.renderOptions)}connectedCallback(){super.connectedCallback(),this._$Do?.setConnected(!0)}disconnectedCallback(){super.disconnectedCallback(),this._$Do?.setConnected(!1)}render(){return C}};g._$litElement$=!0,g.finalized=!0,ct.litElementHydrateSupport?.({LitElement:g});var Xt=ct.litElementPolyfillSupport;Xt?.({LitElement:g});(ct.litElementVersions??=[]).push("4.2.2");function W(n,t){return customElements.whenDefined("home-assistant").then(()=>{customElements.get(n)||customElements.define(n,t)})}var V="victron_balance";function Gt(n){return n!==void 0&&n.platform===V}function q(n,t){return Object.values(n.entities).filter(e=>Gt(e)&&e.translation_key===t)}function L(n){if(typeof n=="number"&&Number.isFinite(n))return n;if(typeof n=="string"&&n.trim()!==""){let t=Number(n);return Number.isFinite(t)?t:null}return null}function ht(n){let t=new Set;for(let e of q(n,"cell_voltage"))e.device_id&&t.add(e.device_id);return[...t].sort()}function Jt(n,t){let e=L(t?.attributes.cell);if(e!==null)return e;let s=/_cell_(\d+)_voltage$/.exec(n.entity_id);return s?Number(s[1]):null}function Pt(n,t,e){return n>=e?"alarm":n>=t?"warn":"ok"}function kt(n,t,e){let s=n.devices[t]?.via_device_id;return e.device_id?e.device_id===s||n.devices[e.device_id]?.via_device_id===s:!1}function Zt(n,t){for(let e of q(n,"top_balance_target_voltage")){if(!kt(n,t,e))continue;let s=L(n.states[e.entity_id]?.attributes.max);if(s!==null)return s}return null}function Rt(n,t){let e=t.device_id??ht(n)[0];if(!e)return null;let s=n.devices[e],i=t.min_voltage??2.5,r=t.max_voltage??Zt(n,e)??3.65,o=t.warn_delta_mv??30,d=t.alarm_delta_mv??80,a=null,u=null,p=[];for(let c of q(n,"balancer_active_cell")){if(!kt(n,e,c))continue;let _=n.states[c.entity_id];a=c.entity_id,u=L(_?.state);let $=_?.attributes.planned_minutes;p=Array.isArray($)?$:[];break}let l=[];for(let c of q(n,"cell_voltage")){if(c.device_id!==e)continue;let _=n.states[c.entity_id];if(_===void 0||_.state==="unavailable")continue;let $=Jt(c,_);$===null||$<1||$>32||l.push({number:$,entityId:c.entity_id,voltage:L(_.state),bmsBalancing:_.attributes.balancing===!0,relayActive:u===$,plannedMinutes:L(p[$-1])??0})}l.sort((c,_)=>c.number-_.number);let m=l.map(c=>c.voltage).filter(c=>c!==null),f=m.length?Math.min(...m):null,v=m.length?Math.max(...m):null,X=m.length?m.reduce((c,_)=>c+_,0)/m.length:null,G=f!==null&&v!==null?(v-f)*1e3:null,Ut=r-i>0?r-i:1,Ht=f!==null&&f!==v?l.find(c=>c.voltage===f):void 0,Tt=v!==null&&f!==v?l.find(c=>c.voltage===v):void 0,Nt=l.map(c=>({...c,isMin:c===Ht,isMax:c===Tt,level:c.voltage===null||X===null?"ok":Pt(Math.abs(c.voltage-X)*1e3,o,d),fill:c.voltage===null?0:Math.min(1,Math.max(0,(c.voltage-i)/Ut))}));return{deviceId:e,name:t.title??s?.name_by_user??s?.name??"Battery",cells:Nt,average:X,spreadMv:G,spreadLevel:G===null?"ok":Pt(G,o,d),minV:i,maxV:r,balancerEntityId:a}}var Qt=[{name:"device_id",selector:{device:{filter:{integration:V}}}},{name:"title",selector:{text:{}}},{type:"grid",name:"",schema:[{name:"min_voltage",selector:{number:{min:0,max:5,step:.01,mode:"box",unit_of_measurement:"V"}}},{name:"max_voltage",selector:{number:{min:0,max:5,step:.01,mode:"box",unit_of_measurement:"V"}}},{name:"warn_delta_mv",selector:{number:{min:1,max:500,step:1,mode:"box",unit_of_measurement:"mV"}}},{name:"alarm_delta_mv",selector:{number:{min:1,max:1e3,step:1,mode:"box",unit_of_measurement:"mV"}}}]}],Yt={device_id:"Battery (empty: the first one found)",title:"Title (empty: the device's name)",min_voltage:"Bar bottom (V)",max_voltage:"Bar top (V, empty: the chemistry's maximum)",warn_delta_mv:"Warn at a deviation of (mV)",alarm_delta_mv:"Alarm at a deviation of (mV)"},K=class extends g{setConfig(t){this._config=t}_changed(t){let e={...t.detail.value};for(let[s,i]of Object.entries(e))(i===""||i===void 0||i===null)&&delete e[s];this.dispatchEvent(new CustomEvent("config-changed",{detail:{config:e},bubbles:!0,composed:!0}))}render(){return!this.hass||!this._config?h:A`<ha-form
      .hass=${this.hass}
      .data=${this._config}
      .schema=${Qt}
      .computeLabel=${t=>Yt[t.name]??t.name}
      @value-changed=${this._changed}
    ></ha-form>`}};K.properties={hass:{attribute:!1},_config:{state:!0}};var te="victron-balance-cells-card-editor";W(te,K);var S="victron-balance-cells-card",ee="0.1.0";function D(n,t=3){return n===null?"\u2013":n.toFixed(t)}var I=class extends g{static getConfigElement(){return document.createElement(`${S}-editor`)}static getStubConfig(t){let e=ht(t)[0];return e?{type:`custom:${S}`,device_id:e}:{type:`custom:${S}`}}setConfig(t){if(!t||typeof t!="object")throw new Error("Invalid configuration");for(let e of["min_voltage","max_voltage","warn_delta_mv","alarm_delta_mv"]){let s=t[e];if(s!==void 0&&(typeof s!="number"||!Number.isFinite(s)))throw new Error(`${e} must be a number`)}if(t.min_voltage!==void 0&&t.max_voltage!==void 0&&t.min_voltage>=t.max_voltage)throw new Error("min_voltage must be below max_voltage");this._config=t}getCardSize(){let t=this._pack()?.cells.length??16;return 2+Math.ceil(t/8)*2}getGridOptions(){return{columns:12,min_columns:6,rows:"auto"}}shouldUpdate(t){if(t.has("_config"))return!0;let e=t.get("hass");return!e||!this.hass?!0:Object.keys(this.hass.states).some(s=>e.states[s]!==this.hass?.states[s]&&this.hass?.entities[s]?.platform===V)}_pack(){return this.hass&&this._config?Rt(this.hass,this._config):null}_moreInfo(t){this.dispatchEvent(new CustomEvent("hass-more-info",{detail:{entityId:t},bubbles:!0,composed:!0}))}_cell(t){let e=["cell",t.level,t.isMin?"min":"",t.isMax?"max":"",t.bmsBalancing?"bms-balancing":"",t.relayActive?"relay-active":"",t.plannedMinutes>0?"planned":""].filter(Boolean),s=[];t.bmsBalancing&&s.push("BMS balancing"),t.relayActive?s.push("balancer charging"):t.plannedMinutes>0&&s.push(`balancer plans ${t.plannedMinutes} min`);let i=`Cell ${t.number}: ${D(t.voltage)} V${s.length?` \u2013 ${s.join(", ")}`:""}`;return A`<button
      class=${e.join(" ")}
      data-cell=${t.number}
      title=${i}
      aria-label=${i}
      @click=${()=>this._moreInfo(t.entityId)}
    >
      <span class="mark" aria-hidden="true"
        >${t.relayActive?"\u26A1":t.bmsBalancing?"\u25CF":t.plannedMinutes>0?"\u25CB":""}</span
      >
      <span class="bar"><span class="fill" style="height: ${(t.fill*100).toFixed(1)}%"></span></span>
      <span class="voltage">${D(t.voltage)}</span>
      <span class="number">${t.number}</span>
    </button>`}render(){if(!this._config||!this.hass)return h;let t=this._pack();if(t===null||t.cells.length===0)return A`<ha-card><div class="empty">No Victron Balance cells found${this._config.device_id?" on this device":""}.</div></ha-card>`;let e=t.cells.find(i=>i.isMin),s=t.cells.find(i=>i.isMax);return A`<ha-card>
      <div class="header">
        <div class="name">${t.name}</div>
        <div class="stats">
          <span class="average">Ø ${D(t.average)} V</span>
          <span class="spread ${t.spreadLevel}"
            >Δ ${t.spreadMv===null?"\u2013":Math.round(t.spreadMv)} mV</span
          >
        </div>
      </div>
      <div class="extremes">
        ${e?A`<span class="low">▼ ${e.number}: ${D(e.voltage)} V</span>`:h}
        ${s?A`<span class="high">▲ ${s.number}: ${D(s.voltage)} V</span>`:h}
        <span class="window">${t.minV.toFixed(2)}–${t.maxV.toFixed(2)} V</span>
      </div>
      <div class="cells" style="--cells: ${t.cells.length}">${t.cells.map(i=>this._cell(i))}</div>
    </ha-card>`}};I.properties={hass:{attribute:!1},_config:{state:!0}},I.styles=Z`
    :host {
      --vb-ok: var(--success-color, #43a047);
      --vb-warn: var(--warning-color, #ffa600);
      --vb-alarm: var(--error-color, #db4437);
      --vb-min: var(--info-color, #039be5);
      --vb-max: var(--error-color, #db4437);
      --vb-relay: var(--warning-color, #ffa600);
    }
    ha-card {
      padding: 12px 12px 8px;
    }
    .header {
      display: flex;
      justify-content: space-between;
      align-items: baseline;
      gap: 8px;
      flex-wrap: wrap;
    }
    .name {
      font-size: 1.15em;
      font-weight: 500;
    }
    .stats {
      display: flex;
      gap: 12px;
      font-variant-numeric: tabular-nums;
    }
    .spread.warn {
      color: var(--vb-warn);
    }
    .spread.alarm {
      color: var(--vb-alarm);
      font-weight: 600;
    }
    .extremes {
      display: flex;
      gap: 12px;
      flex-wrap: wrap;
      font-size: 0.85em;
      color: var(--secondary-text-color);
      margin: 4px 0 8px;
      font-variant-numeric: tabular-nums;
    }
    .extremes .low {
      color: var(--vb-min);
    }
    .extremes .high {
      color: var(--vb-max);
    }
    .cells {
      display: grid;
      grid-template-columns: repeat(auto-fill, minmax(38px, 1fr));
      gap: 4px;
    }
    .cell {
      all: unset;
      box-sizing: border-box;
      display: flex;
      flex-direction: column;
      align-items: center;
      cursor: pointer;
      border-radius: 6px;
      padding: 2px 0;
      border: 2px solid transparent;
      min-width: 0;
    }
    .cell:focus-visible {
      outline: 2px solid var(--primary-color);
    }
    .cell.min {
      border-color: var(--vb-min);
    }
    .cell.max {
      border-color: var(--vb-max);
    }
    .mark {
      height: 1.1em;
      font-size: 0.8em;
      line-height: 1.1em;
      color: var(--vb-relay);
    }
    .cell.bms-balancing .mark {
      color: var(--vb-min);
    }
    .bar {
      position: relative;
      width: 70%;
      height: 96px;
      border-radius: 4px;
      background: var(--secondary-background-color, #e5e5e5);
      overflow: hidden;
    }
    .fill {
      position: absolute;
      bottom: 0;
      left: 0;
      right: 0;
      background: var(--vb-ok);
    }
    .cell.warn .fill {
      background: var(--vb-warn);
    }
    .cell.alarm .fill {
      background: var(--vb-alarm);
    }
    .cell.relay-active .bar {
      box-shadow: 0 0 0 2px var(--vb-relay);
    }
    .voltage {
      font-size: 0.72em;
      font-variant-numeric: tabular-nums;
      margin-top: 2px;
    }
    .number {
      font-size: 0.7em;
      color: var(--secondary-text-color);
    }
    .empty {
      padding: 16px;
      color: var(--secondary-text-color);
    }
  `;customElements.get(S)||(W(S,I),(window.customCards??=[]).push({type:S,name:"Victron Balance cells",description:"Every cell of the battery: bars in the chemistry's window, min/max, balancing.",preview:!0,documentationURL:"https://github.com/victron-balance/victron_balance#cells-card"}),console.info(`%c${S} ${ee}`,"color: #005eb8"));export{I as VictronBalanceCellsCard};
/*! Bundled license information:

@lit/reactive-element/css-tag.js:
  (**
   * @license
   * Copyright 2019 Google LLC
   * SPDX-License-Identifier: BSD-3-Clause
   *)

@lit/reactive-element/reactive-element.js:
  (**
   * @license
   * Copyright 2017 Google LLC
   * SPDX-License-Identifier: BSD-3-Clause
   *)

lit-html/lit-html.js:
  (**
   * @license
   * Copyright 2017 Google LLC
   * SPDX-License-Identifier: BSD-3-Clause
   *)

lit-element/lit-element.js:
  (**
   * @license
   * Copyright 2017 Google LLC
   * SPDX-License-Identifier: BSD-3-Clause
   *)

lit-html/is-server.js:
  (**
   * @license
   * Copyright 2022 Google LLC
   * SPDX-License-Identifier: BSD-3-Clause
   *)
*/
