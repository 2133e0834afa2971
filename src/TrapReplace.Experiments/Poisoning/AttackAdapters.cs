using TrapReplace.Attacks.Warping;
using TrapReplace.Evaluation;
using TrapReplace.Training;
using static TorchSharp.torch;
using AttackTriggeredSet = TrapReplace.Attacks.Poisoning.TriggeredTestSet;

namespace TrapReplace.Experiments.Poisoning;

/// <summary>
/// Where the attack assembly meets Core, which knows nothing of it: an attack's triggered test set as Core's
/// evaluation input, and a training-controlled attack (WaNet) as a trainer's per-batch transform.
/// </summary>
public static class AttackAdapters
{
    /// <summary>The triggered test set as <see cref="Evaluator"/> takes it (no copy: the tensors stay the set's).</summary>
    public static ITriggeredTestSet ForEvaluation(this AttackTriggeredSet triggered)
    {
        ArgumentNullException.ThrowIfNull(triggered);
        return new TriggeredSetAdapter(triggered);
    }

    /// <summary>The per-batch poisoner as a trainer's <see cref="IBatchTransform"/>.</summary>
    public static IBatchTransform AsBatchTransform(this IBatchPoisoner poisoner)
    {
        ArgumentNullException.ThrowIfNull(poisoner);
        return new BatchPoisonerTransform(poisoner);
    }
}

/// <summary>An attack's triggered test set seen through Core's evaluation abstraction.</summary>
internal sealed class TriggeredSetAdapter(AttackTriggeredSet inner) : ITriggeredTestSet
{
    public Tensor Images => inner.Images;

    public Tensor TrueLabels => inner.TrueLabels;

    public int TargetClass => inner.TargetClass;
}

/// <summary>A training-controlled attack (WaNet) as stage 1's per-batch transform.</summary>
internal sealed class BatchPoisonerTransform(IBatchPoisoner poisoner) : IBatchTransform
{
    public (Tensor Images, Tensor Labels) Transform(Tensor images, Tensor labels, Generator generator) =>
        poisoner.PoisonBatch(images, labels, generator);
}
