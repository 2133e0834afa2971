using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace TrapReplace.Training;

/// <summary>Which optimizer a stage uses.</summary>
public enum OptimizerKind
{
    /// <summary>Adam (the reference for CIFAR-10 and GTSRB).</summary>
    Adam,

    /// <summary>SGD with momentum (the reference for ImageNet-12).</summary>
    Sgd,
}

/// <summary>Builds optimizers and the cosine learning-rate schedule shared by both stages.</summary>
internal static class Optimization
{
    /// <summary>Creates the optimizer over <paramref name="parameters"/>.</summary>
    public static OptimizerHelper Create(OptimizerKind kind, IEnumerable<Parameter> parameters, double learningRate, double weightDecay, double momentum) =>
        kind switch
        {
            OptimizerKind.Sgd => optim.SGD(parameters, learningRate, momentum: momentum, weight_decay: weightDecay),
            _ => optim.Adam(parameters, learningRate, weight_decay: weightDecay),
        };

    /// <summary>
    /// Cosine annealing stepped once per epoch over all epochs (PyTorch's CosineAnnealingLR with
    /// T_max = epochs and eta_min = 0): lr(e) = base * (1 + cos(pi * e / epochs)) / 2 for epoch e counted from 0.
    /// </summary>
    public static double CosineLearningRate(double baseRate, int epoch, int epochs) =>
        baseRate * (1 + Math.Cos(Math.PI * epoch / epochs)) / 2;

    /// <summary>Sets the learning rate of every parameter group.</summary>
    public static void SetLearningRate(OptimizerHelper optimizer, double rate)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        foreach (var group in optimizer.ParamGroups) group.LearningRate = rate;
    }
}
