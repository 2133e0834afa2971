using TorchSharp;
using static TorchSharp.torch;

namespace TrapReplace.Peers;

/// <summary>
/// The implicit hypergradient of a bilevel problem by fixed-point iteration (Grazzi et al., 2020, as I-BAU uses
/// it): the inner variable w* solves min_w g(w, theta), reached by the gradient-descent map
/// Phi(w) = w - r grad_w g(w, theta); the outer loss is f(w*, theta). With v_0 = 0 and
/// v_{k+1} = (d Phi / d w)^T v_k + grad_w f for K steps (a truncated Neumann series of the inverse Hessian),
/// the hypergradient is grad_theta f + (d Phi / d theta)^T v_K.
/// </summary>
internal static class ImplicitHypergradient
{
    /// <summary>
    /// A scalar whose value is f(w, theta) and whose gradient with respect to every tensor theta the losses
    /// depend on is the K-step implicit hypergradient at <paramref name="inner"/>; call <c>backward()</c> on it
    /// and step the outer optimizer. The implicit part uses the Hessian-vector products of
    /// <paramref name="innerLoss"/>, so that loss must be twice differentiable.
    /// </summary>
    /// <param name="inner">The inner variable's current value (detached inside).</param>
    /// <param name="innerLoss">g(w, theta) as a function of w.</param>
    /// <param name="outerLoss">f(w, theta) as a function of w; it must use w.</param>
    /// <param name="innerRate">Step r of the fixed-point map.</param>
    /// <param name="steps">K, the fixed-point iterations.</param>
    /// <param name="tolerance">Stops early once ||v_{k+1} - v_k|| falls below it.</param>
    public static Tensor Surrogate(Tensor inner, Func<Tensor, Tensor> innerLoss, Func<Tensor, Tensor> outerLoss, double innerRate, int steps, double tolerance = 1e-10)
    {
        var w = inner.detach().requires_grad_(true);
        var outer = outerLoss(w);
        var outerGradient = torch.autograd.grad([outer], [w], retain_graph: true)[0];
        var innerGradient = torch.autograd.grad([innerLoss(w)], [w], retain_graph: true, create_graph: true)[0];
        var mapped = w.sub(innerGradient.mul(innerRate));
        var v = zeros_like(w);
        for (int k = 0; k < steps; k++)
        {
            var previous = v;
            v = torch.autograd.grad([mapped], [w], [v], retain_graph: true)[0].add(outerGradient);
            if (v.sub(previous).norm().ToDouble() < tolerance) break;
        }
        // mapped . v has the implicit gradient (d Phi / d theta)^T v; subtracting its detached value keeps the surrogate's value f.
        var implicitTerm = mapped.mul(v.detach()).sum();
        return outer.add(implicitTerm).sub(implicitTerm.detach());
    }
}
