namespace TrapReplace.Attacks.Poisoning;

/// <summary>What the poison ratio is a fraction of. Toolkits differ here, so it is an explicit choice.</summary>
public enum PoisonRatioDenominator
{
    /// <summary>The whole training set (the reference T&amp;R code and BackdoorBench): count = ratio x N.</summary>
    WholeTrainingSet,

    /// <summary>The images of the target class (some toolkits, for clean-label attacks): count = ratio x N_target.</summary>
    TargetClass,
}
