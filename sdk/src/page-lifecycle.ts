export type PageHideMode = false | 'pagehide' | 'hidden';

export interface PageLifecycleHandlers {
  /** The page is going away (or hidden, in `'hidden'` mode): give the slot back. */
  hide(): void;
  /** The page is back (from the back/forward cache, or visible again). */
  show(): void;
}

/**
 * Browser only: listens for the page going away. Returns the function that stops listening, or
 * undefined where there is no `window` (Node) or nothing to listen for.
 */
export function attachPageLifecycle(mode: PageHideMode, handlers: PageLifecycleHandlers): (() => void) | undefined {
  if (mode === false) return undefined;
  if (typeof window === 'undefined' || typeof window.addEventListener !== 'function') return undefined;
  const onPageHide = (): void => handlers.hide();
  const onPageShow = (event: Event): void => {
    if ((event as PageTransitionEvent).persisted) handlers.show();
  };
  const doc = typeof document !== 'undefined' && typeof document.addEventListener === 'function' ? document : undefined;
  const onVisibility = (): void => {
    if (doc?.visibilityState === 'hidden') handlers.hide();
    else handlers.show();
  };
  window.addEventListener('pagehide', onPageHide);
  window.addEventListener('pageshow', onPageShow);
  if (mode === 'hidden') doc?.addEventListener('visibilitychange', onVisibility);
  return () => {
    window.removeEventListener('pagehide', onPageHide);
    window.removeEventListener('pageshow', onPageShow);
    if (mode === 'hidden') doc?.removeEventListener('visibilitychange', onVisibility);
  };
}
