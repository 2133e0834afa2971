using TrapReplace.Attacks.Warping;
using TrapReplace.Evaluation;
using TrapReplace.Training;
using static TorchSharp.torch;
using AttackTriggeredSet = TrapReplace.Attacks.Poisoning.TriggeredTestSet;

namespace TrapReplace.Experiments.Poisoning;

// Core knows nothing of the attack assembly; these two adapters are the only place the two meet.

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
