"""The assessments service: what resolvers and jobs call."""
