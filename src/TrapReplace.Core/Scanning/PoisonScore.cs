namespace TrapReplace.Scanning;

/// <summary>How the poison scan scores one training sample (image x, given label y) from the trapped network t
/// and the replaced network r. Higher means more suspicious.</summary>
public enum PoisonScore
{
    /// <summary>log p_t(y | x) − log p_r(y | x): how much more the trapped head, which learned the poisoned labels,
    /// believes the given label than the replaced head, which learned clean labels only.</summary>
    LikelihoodGap,

    /// <summary>−log p_r(y | x): the replaced head's loss on the given label alone.</summary>
    ReplacedLoss,

    /// <summary>max_c log p_r(c | x) − log p_r(y | x): how far the given label lies below the replaced head's
    /// favourite class (0 when it agrees with the label).</summary>
    ReplacedMargin,
}
