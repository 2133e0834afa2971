using TrapReplace.Models;
using TrapReplace.Training;

namespace TrapReplace.Peers;

/// <summary>The outcome of a peer defense (Fine-Pruning, NAD, ABL, ANP, I-BAU), uniform so that an experiment runner can treat them alike.</summary>
/// <param name="Network">The defended network, in eval mode, without a decoder. The caller owns it (dispose it).</param>
/// <param name="History">One record per training epoch of every phase, numbered continuously across phases
/// (each defense documents its phases and where they start in <paramref name="Details"/>).</param>
/// <param name="Seconds">Wall time of the call.</param>
/// <param name="Details">Defense-specific numbers (pruned channel count, chosen ratio, isolated count...);
/// the keys are the <c>...Key</c> constants of each defense class.</param>
public sealed record PeerDefenseResult(TrapNetwork Network, IReadOnlyList<EpochRecord> History, double Seconds, IReadOnlyDictionary<string, double> Details)
{
    /// <summary>Indices into the untrusted training set that the defense set aside as suspected poison
    /// (ABL's isolated set), ascending; empty for defenses that do not isolate samples.</summary>
    public IReadOnlyList<int> IsolatedIndices { get; init; } = [];
}
