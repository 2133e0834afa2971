namespace TrapReplace.Attacks.Poisoning;

/// <summary>Whether poisoned samples are relabelled.</summary>
public enum LabelMode
{
    /// <summary>Poison non-target-class samples and relabel them to the target class.</summary>
    DirtyLabel,

    /// <summary>Poison target-class samples only and keep their (already correct) labels.</summary>
    CleanLabel,
}
