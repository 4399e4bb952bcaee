/** One evaluation's loss, by term: what the engine reports, the CLI logs and plots, the server sends. */
export interface LossTerms {
  content: number;
  style: number;
  tv: number;
  total: number;
}
