namespace TrapReplace.Cleansing;

/// <summary>
/// The one rule behind every choice between a cleansed network and a fallback head trained on the holdout alone (Trap
/// and Replace's head, or the head re-replaced on the cleansed stem): each is scored by validation accuracy minus the
/// label-free pull on the held-out suspects, and the fallback wins only when it scores higher. A tie keeps the cleansed
/// network: the defender cannot tell the two apart, and its head learned from the whole cleansed untrusted set
/// (GTSRB Blend at `full`: both 99.5 % on 196 validation images, no pull).
/// </summary>
internal static class CleansedChoice
{
    public static bool FallbackScoresHigher(double fallbackAccuracy, double fallbackPull, double cleansedAccuracy, double cleansedPull) =>
        fallbackAccuracy - fallbackPull > cleansedAccuracy - cleansedPull;
}
