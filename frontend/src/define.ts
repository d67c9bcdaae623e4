/**
 * Define a custom element once Home Assistant's frontend has its registry in place.
 *
 * The frontend installs a scoped custom-element registry polyfill that replaces
 * `window.customElements`. Extra modules are imported beside the app, so this module
 * can run first; an element defined then lands in the registry the frontend no longer
 * reads, and the card stays an error card until a reload (seen on about one fresh page
 * load in three). The app's root element is defined through the frontend's registry,
 * so by the time it exists, `customElements` is the one Lovelace reads.
 */
export function defineWhenReady(tag: string, element: CustomElementConstructor): Promise<void> {
  return customElements.whenDefined("home-assistant").then(() => {
    // `customElements` is looked up again here: it may be the polyfill's by now.
    if (!customElements.get(tag)) customElements.define(tag, element);
  });
}
