// The customer's page: one call with ShopMe support in a LiveKit room.
import "./page";
